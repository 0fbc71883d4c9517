"""Thin nodes for the expert step with real annotators (docs/label_studio.md); the work is in
:mod:`llm_ner.label_studio` and :func:`llm_ner.mixed.annotated_pool`.

Every run exports the chosen sentences as Label Studio tasks (cheap, so they are always there to
import by hand). With a server configured (credentials ``label_studio.url`` / ``api_key``) the
tasks are pushed and the annotations pulled; without one, ``label_studio.import_path`` names a
Label Studio JSON export to read back. Students train on the annotations only when
``mixed_annotation.expert_source`` is ``label_studio``.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from llm_ner.label_studio import annotations_so_far, labeling_config, read_export, tasks_for
from llm_ner.metrics import entity_scores
from llm_ner.mixed import (
    SELECTIONS,
    AnnotatedPool,
    annotated_pool,
    annotated_pool_cells,
    expert_count,
    summarise_annotated,
)
from llm_ner.parameters import EntityTypes, LabelStudioParams, MixedAnnotationParams
from llm_ner.students import StudentSetup

logger = logging.getLogger(__name__)


def choose_sentences_for_experts(pool: pd.DataFrame, label_studio: LabelStudioParams, seed: int) -> pd.DataFrame:
    """The pool sentences people should correct: ``label_studio.selection`` (a mixed_annotation
    strategy and a budget, a share of the pool), in the order the strategy ranks them."""
    strategy, budget = label_studio.selection.strategy, label_studio.selection.budget
    chosen = SELECTIONS[strategy](pool, expert_count(budget, len(pool)), seed)
    ranked_by = SELECTIONS[strategy].ranked_by  # people see the least sure first
    if ranked_by is not None:
        chosen = chosen.sort_values(ranked_by, kind="stable", na_position="first")
    logger.info("expert step: %d of %d pool sentences chosen by %s for Label Studio", len(chosen), len(pool), strategy)
    return chosen.reset_index(drop=True).assign(selection=strategy)


def export_label_studio_tasks(selection: pd.DataFrame, entity_types: EntityTypes) -> tuple[list[dict], str]:
    """The selection as Label Studio tasks, the LLM's labels pre-filled, and the labeling config."""
    return tasks_for(selection), labeling_config(entity_types.schema)


def collect_label_studio_export(
    tasks: list[dict], config: str, label_studio: LabelStudioParams, credentials: dict[str, Any]
) -> list[dict]:
    """What annotators submitted so far, as a Label Studio JSON export: pushed to and pulled from
    the configured server, or read from ``label_studio.import_path``; empty when neither is set."""
    return annotations_so_far(credentials, label_studio.project, config, label_studio.import_path, tasks)


def import_expert_labels(
    export: list[dict], selection: pd.DataFrame, label_studio: LabelStudioParams, entity_types: EntityTypes
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The annotators' tags per selected sentence, and what the import found: statuses, repairs,
    time, inter-annotator agreement and -- the corpus has gold -- agreement with CoNLL's gold."""
    schema = entity_types.schema
    source = label_studio.import_path or "the Label Studio export"
    annotations = read_export(export, selection, schema, label_studio.rule, source=str(source))
    sentences = annotations.sentences.merge(selection[["sentence_id", "tokens", "gold_tags"]], on="sentence_id")
    labelled = sentences[sentences["status"] == "labelled"]
    with_gold = (
        float(
            entity_scores(list(labelled["gold_tags"]), list(labelled["expert_tags"]), types=schema.names).loc[
                "micro", "f1"
            ]
        )
        if len(labelled)
        else None
    )
    summary = {
        "sentences": annotations.counts(),
        "repaired_regions": int(sentences["repaired"].sum()),
        "repair_reasons": [r for reasons in sentences["repair_reasons"] for r in reasons],
        "lead_time_s": float(sentences["lead_time_s"].sum()),
        "untimed_labelled": int(labelled["lead_time_s"].isna().sum()),
        "inter_annotator_f1": annotations.agreement_f1,
        "inter_annotator_tasks": annotations.agreement_tasks,
        "rule": label_studio.rule,
        "f1_against_conll_gold": with_gold,
        "missing_sentence_ids": [int(i) for i in sentences.loc[sentences["status"] == "missing", "sentence_id"]],
    }
    logger.info(
        "Label Studio import: %s; inter-annotator F1 %s; F1 against CoNLL gold %s",
        summary["sentences"],
        summary["inter_annotator_f1"],
        with_gold,
    )
    return sentences.drop(columns="gold_tags"), summary


def pool_with_expert_labels(
    pool: pd.DataFrame, expert_labels: pd.DataFrame, params: MixedAnnotationParams
) -> AnnotatedPool:
    """With ``expert_source: label_studio``: the pool with the annotators' corrections in place of
    the LLM's tags, and with the same sentences' CoNLL gold (the simulated twin); nothing otherwise."""
    if params.expert_source == "simulated":
        return AnnotatedPool({}, 0, 0)
    labelled = expert_labels[expert_labels["status"] == "labelled"]
    if labelled.empty:
        raise ValueError(
            "mixed_annotation.expert_source is label_studio but no sentence is labelled yet: import "
            "data/07_model_output/label_studio/tasks.json into Label Studio and annotate it, then "
            "configure the server (credentials label_studio.url, api_key) or label_studio.import_path"
        )
    return annotated_pool(pool, labelled, params.llm_weight)


def train_on_expert_labels(
    annotated: AnnotatedPool, label_studio: LabelStudioParams, setup: StudentSetup
) -> pd.DataFrame:
    """A student per expert source and seed (``label_studio.seeds``); nothing when nobody labelled."""
    if not annotated.training_sets:
        return pd.DataFrame()
    cells = annotated_pool_cells(annotated, label_studio.seeds, setup.protocol, setup.evaluation_sets)
    return setup.grid.table("label_studio", cells)


def expert_label_table(runs: pd.DataFrame, expert_labels: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds per expert source, with the measured time of the labelled sentences
    (``expert_seconds``) and the tokens of those without a recorded time (``untimed_tokens``)."""
    if runs.empty:
        return pd.DataFrame()
    labelled = expert_labels[expert_labels["status"] == "labelled"]
    paid = expert_labels["lead_time_s"].fillna(0).sum()  # cancelled annotations took time too
    untimed = labelled[labelled["lead_time_s"].isna()]
    table = summarise_annotated(runs)
    # the simulated twin has no measured time (nobody did it): NaN there
    table["expert_seconds"] = table["expert_source"].map({"label_studio": float(paid)})
    table["untimed_tokens"] = table["expert_source"].map({"label_studio": int(sum(len(t) for t in untimed["tokens"]))})
    return table
