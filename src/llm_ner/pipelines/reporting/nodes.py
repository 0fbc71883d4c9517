"""Thin nodes for the `reporting` pipeline: every labelled set's cost and F1 (:mod:`llm_ner.report.routes`)
and the page (:mod:`llm_ner.report.html`). The sections and the summary are the core's own functions
(:mod:`llm_ner.report.sections`, :mod:`llm_ner.report.summary`). Any input may be None -- its pipeline
has not run (see ``hooks.ReportInputs``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from llm_ner.costs import CostModel
from llm_ner.parameters import (
    EntityTypes,
    LLMModels,
    ReportingParams,
)
from llm_ner.report import routes
from llm_ner.report.html import Section, render
from llm_ner.report.routes import Prices, RouteKind
from llm_ner.report.summary import gold_only_f1
from llm_ner.students import Protocol, StudentParams

Table = pd.DataFrame | None


# -- costs ---------------------------------------------------------------------------------------


def price_llm_labels(
    llm_spend: Mapping | None, llm_gold_usage: Table, markup_quality: Table, llm_models: LLMModels
) -> dict[str, Any]:
    """The LLM labels' calls and gold; empty when llm_annotation has not run (Kedro saves no None)."""
    return routes.llm_labelled_set(llm_spend, llm_gold_usage, markup_quality, llm_models.root) or {}


def label_prices(llm_labels: Mapping[str, Any], corpus_summary: Table, cost_model: CostModel) -> Prices:
    return Prices(cost_model, llm_labels, routes.tokens_per_sentence(corpus_summary))


def cost_expert_and_llm_routes(
    learning_curve: Table, reference_students: Table, mixing_pool: Table, prices: Prices
) -> pd.DataFrame:
    return pd.concat(
        [
            routes.expert_rows(
                learning_curve, reference_students, mixing_pool, prices.tokens_per_sentence, prices.model
            ),
            routes.llm_only_rows(reference_students, prices.llm_labels, prices.model),
        ],
        ignore_index=True,
    )


def cost_budget_routes(
    add_table: Table, correct_table: Table, expert_label_table: Table, prices: Prices
) -> pd.DataFrame:
    """The sweeps' budgets, and the budget people labelled in Label Studio (with its simulated twin)."""
    return pd.concat(
        [
            routes.budget_rows(
                {"add": add_table, "correct": correct_table},
                prices.llm_labels,
                prices.tokens_per_sentence,
                prices.model,
            ),
            routes.annotated_rows(expert_label_table, prices.llm_labels, prices.model),
        ],
        ignore_index=True,
    )


def cost_regimen_routes(regimen_table: Table, blending_table: Table, expert_set: Table, prices: Prices) -> pd.DataFrame:
    return routes.regimen_rows(
        {RouteKind.REGIMENS: regimen_table, RouteKind.BLENDING: blending_table},
        expert_set,
        prices.llm_labels,
        prices.model,
    )


def cost_active_learning_routes(history: Table, model_init_training_set: Table, prices: Prices) -> pd.DataFrame:
    return routes.active_learning_rows(
        history, model_init_training_set, prices.llm_labels, prices.tokens_per_sentence, prices.model
    )


def labelled_set_costs(
    expert_and_llm: pd.DataFrame, budgets: pd.DataFrame, regimens: pd.DataFrame, active_learning: pd.DataFrame
) -> pd.DataFrame:
    return routes.with_frontier([expert_and_llm, budgets, regimens, active_learning])


def cost_to_target(costs: pd.DataFrame, reference_students: Table, reporting: ReportingParams) -> pd.DataFrame:
    reference = gold_only_f1(reference_students)
    if reference is None or costs.empty:
        return pd.DataFrame(
            columns=[
                "target_share",
                "target_f1",
                "route",
                "result",
                "total_usd",
                "f1_mean",
                "expert_sentences",
                "ratio_to_all_expert",
            ]
        )
    return routes.cost_to_target(costs, reference, list(reporting.target_shares))


def labeller_costs(markup_quality: Table, llm_models: LLMModels, prices: Prices) -> pd.DataFrame:
    return routes.labeller_costs(markup_quality, llm_models.root, prices.model, prices.tokens_per_sentence)


# -- what the sections read ---------------------------------------------------------------------


def student_protocol(student: StudentParams, entity_types: EntityTypes) -> Protocol:
    return Protocol.of(student, entity_types.schema)


# -- the page ------------------------------------------------------------------------------------


def page_sections(*parts: Section | list[Section]) -> list[Section]:
    """Sections (or lists of them) as one list, in order: the page is gathered a few at a time."""
    return [section for part in parts for section in (part if isinstance(part, list) else [part])]


def render_report(summary: list[str], report_run: Mapping[str, Any], sections: list[Section]) -> str:
    """``report_run``: the Kedro environment, the command, and where each input came from (a file and
    its version, "this run", or "not run"), from ``llm_ner.hooks.ReportInputs``."""
    inputs = report_run.get("inputs", {})
    for section in sections:
        section.sources = {name: inputs.get(name, "this run") for name in section.sources}
    run = {
        "env": report_run.get("env", "?"),
        "command": report_run.get("command", "kedro run"),
        "rendered_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return render("How far do cheap LLM labels take a small NER model, and at what cost?", summary, list(sections), run)
