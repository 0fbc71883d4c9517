"""The own-text route's page: how good the labels and the model are on the evaluation set people
labelled (with bootstrap intervals), what the LLM and the people cost, and which gold went where."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .html import Section, render


def _quality(summary: Mapping[str, Any]) -> Section:
    section = Section("own-text-quality", "Quality on the evaluation set")
    section.text(
        f"Micro entity F1 on the {summary['evaluation_sentences']} evaluation sentences people labelled "
        f"(never trained on, never a demonstration, never used to choose); [95 % bootstrap interval over "
        f"sentences, {summary['bootstrap_resamples']} resamples]."
    )
    section.table(pd.DataFrame(summary["quality"]), caption="the LLM's labels and the recommended model")
    section.table(
        pd.DataFrame(summary["students"]),
        caption=f"students per regimen: mean and std of F1 over {summary['seeds']} seeds; "
        "D_llm_then_gold = LLM labels then the people's (the recommended recipe), A_gold = the people's alone",
    )
    return section


def _cost(summary: Mapping[str, Any]) -> Section:
    llm = summary["llm_cost"]
    section = Section("own-text-cost", "What it cost")
    section.text(
        f"LLM: ${llm['label_cost_usd']:.4f} for the labels ({llm['input_tokens']:,} prompt and "
        f"{llm['output_tokens']:,} reply tokens, {llm['api_calls']} calls bought by this run, "
        f"{llm['cache_hits']} from the cache; {llm['generation_seconds'] / 3600:.2f} h of generation, "
        f"${llm['compute_usd']:.2f} at cost_model.local_compute), ${llm['choice_usd']:.4f} to choose the labeller. "
        f"People: {summary['people_seconds'] / 3600:.2f} h measured in Label Studio, "
        f"${summary['people_usd']:.2f} at the expert's hourly rate (cost_model.expert.usd_per_hour)."
    )
    section.table(
        pd.DataFrame(summary["gold"]),
        caption="gold consumed, by purpose: sentences, tokens, skipped, measured time and its price",
    )
    return section


def _sentences(summary: Mapping[str, Any]) -> Section:
    section = Section("own-text-sentences", "Documents and sentences")
    section.table(pd.DataFrame([summary["counts"]]), caption="nothing is dropped without a count")
    return section


def route_page(summary: Mapping[str, Any]) -> str:
    """The route's self-contained HTML page."""
    quality = {row["labels"]: row for row in summary["quality"]}
    headline = [
        f"LLM labels ({summary['llm_cost']['labeller']}): F1 {quality['LLM']['f1']:.3f} "
        f"[{quality['LLM']['f1_low']:.3f}, {quality['LLM']['f1_high']:.3f}]",
        f"Recommended model: F1 {quality['model']['f1']:.3f} "
        f"[{quality['model']['f1_low']:.3f}, {quality['model']['f1_high']:.3f}]",
        f"Cost: LLM ${summary['llm_cost']['label_cost_usd']:.4f}; people "
        f"{summary['people_seconds'] / 3600:.2f} h = ${summary['people_usd']:.2f}",
    ]
    run = {
        "env": "(the run's)",
        "command": "kedro run --pipelines own_text",
        "rendered_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    sections = [_quality(summary), _cost(summary), _sentences(summary)]
    return render("Your text, your tagger", headline, sections, run)
