"""The study report: one self-contained HTML page (Jinja2; figures inline as base64 PNG, tables as
HTML) made of sections. A section whose stage has not run says so instead of breaking the page."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")  # rendered headless
import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

NOT_RUN = "not run"


@dataclass
class Block:
    """One piece of a section: ``kind`` is text, table (pre-rendered HTML), figure (a data URI) or html."""

    kind: str
    content: str
    caption: str = ""


@dataclass
class Section:
    key: str  # the HTML anchor, and what tests look for
    title: str
    blocks: list[Block] = field(default_factory=list)
    sources: Mapping[str, str] = field(default_factory=dict)  # input dataset -> file and version it came from
    parameters: Mapping[str, Any] = field(default_factory=dict)  # the parameters that produced it
    missing: list[str] = field(default_factory=list)  # inputs whose pipeline has not run

    @property
    def status(self) -> str:
        """Not run when none of its inputs exists; a section with some inputs shows what it has."""
        return NOT_RUN if self.missing and len(self.missing) == len(self.sources) else "ok"

    def text(self, content: str) -> Section:
        self.blocks.append(Block("text", content))
        return self

    def table(self, table: pd.DataFrame, caption: str = "", digits: int = 3) -> Section:
        html = table.to_html(
            index=False, border=0, classes="data", na_rep="–", float_format=lambda x: f"{x:,.{digits}f}"
        )
        self.blocks.append(Block("table", html, caption))
        return self

    def figure(self, figure: plt.Figure, caption: str = "") -> Section:
        self.blocks.append(Block("figure", figure_uri(figure), caption))
        return self

    def html(self, content: str, caption: str = "") -> Section:
        self.blocks.append(Block("html", content, caption))
        return self


def figure_uri(figure: plt.Figure) -> str:
    """A matplotlib figure as an inline PNG data URI (the figure is closed)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def embedded_page_body(page: str) -> str:
    """The ``<body>`` of a stand-alone HTML page (e.g. entity examples), to embed in the report."""
    lower = page.lower()
    start, end = lower.find("<body"), lower.rfind("</body>")
    if start < 0 or end < 0:
        return page
    return page[page.index(">", start) + 1 : end]


def render(title: str, summary: list[str], sections: list[Section], run: Mapping[str, Any]) -> str:
    environment = Environment(
        loader=PackageLoader("llm_ner.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    return environment.get_template("report.html.j2").render(
        title=title, summary=summary, sections=sections, run=run, not_run=NOT_RUN
    )
