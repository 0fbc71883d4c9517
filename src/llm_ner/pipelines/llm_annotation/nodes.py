"""Thin nodes: settings, sampling, cost estimate, quality evaluation, choice, labelling, accounting.

The work is in ``llm_ner.llm``. Kedro instantiates the typed groups (``llm_annotation``,
``llm_prompts``, ``cost_model``); the stage's ``llm_access`` (the models, their prices and
credentials) and :func:`llm_ner.pipelines.join_settings` join them into one :class:`LLMSettings`, which the other
nodes take as one input.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from llm_ner.accounting import gold_usage, usage_table
from llm_ner.llm.annotate import SENTENCE_LABEL_COLUMNS
from llm_ner.llm.costs import MONEY_FIELDS
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.quality import apply_failed_policy, choose_best
from llm_ner.llm.settings import LLMSettings
from llm_ner.llm.simulated import simulated_pool_labels
from llm_ner.llm.study import AnnotationStudy, label_with_labeller, score_pairs
from llm_ner.sampling import seeded_sample

logger = logging.getLogger(__name__)

LLM_LABEL_COLUMNS = list(SENTENCE_LABEL_COLUMNS)  # llm_labels: the calls' costs are summed in llm_labelling_spend
CONFIDENCE_COLUMNS = ["strategy", "model", "kept_share", "sentences", "threshold", "f1", "right_sentence_share"]
# no pair evaluated (imported or simulated labels, `evaluate` empty): a table with a header, so it loads back
EMPTY_TABLE_COLUMNS = ["strategy", "model", "sentences"]


def sample_sentences(sentences: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``size`` sentences (all of them if fewer), in corpus order."""
    return seeded_sample(sentences, size, seed)


def sample_demonstration_pool(train: pd.DataFrame, training_pool: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """Gold-labelled train sentences for few-shot retrieval, disjoint from the pool the LLM labels."""
    return seeded_sample(train, size, seed + 1, exclude=training_pool)


def estimate_costs(
    quality_sample: pd.DataFrame, training_pool: pd.DataFrame, demonstration_pool: pd.DataFrame, settings: LLMSettings
) -> pd.DataFrame:
    """Dry run before any call: what evaluating every pair, and labelling the pool with each, would cost."""
    study = AnnotationStudy(settings)
    try:
        rows = []
        for strategy, model in settings.evaluated_pairs():
            rows.append(study.estimate(strategy, model, quality_sample, demonstration_pool, "quality"))
            if settings.annotation.source == "annotate":
                rows.append(study.estimate(strategy, model, training_pool, demonstration_pool, "labelling"))
    finally:
        study.close()
    estimate = pd.DataFrame(rows) if rows else pd.DataFrame(columns=EMPTY_TABLE_COLUMNS)
    if not estimate.empty:
        quality = estimate[estimate["stage"] == "quality"]
        logger.info(
            "dry run: evaluation needs %d calls, estimated $%.4f; labelling estimates per pair saved",
            quality["calls_to_make"].sum(),
            quality["estimated_cost_usd"].sum(),
        )
    return estimate


def evaluate_markup_quality(
    quality_sample: pd.DataFrame, demonstration_pool: pd.DataFrame, cost_estimate: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every configured strategy x model on the validation sample: ``markup_quality``, the labels
    behind it, and F1 of the labels kept above each confidence threshold.

    ``cost_estimate`` is taken only so that the dry-run estimate is saved before the first call.
    """
    rows, labels, thresholds = score_pairs(settings, quality_sample, demonstration_pool)
    quality = pd.DataFrame(rows) if rows else pd.DataFrame(columns=EMPTY_TABLE_COLUMNS)
    if not quality.empty:
        logger.info(
            "markup quality:\n%s",
            quality[
                [
                    "strategy",
                    "model",
                    "f1",
                    "parse_failure_rate",
                    "confidence_auroc",
                    "seconds_per_sentence",
                    "api_calls",
                    "spend_usd",
                ]
            ].to_string(),
        )
    confidence = pd.concat(
        [t for t in thresholds if not t.empty] or [pd.DataFrame(columns=CONFIDENCE_COLUMNS)], ignore_index=True
    )
    return quality, (pd.concat(labels, ignore_index=True) if labels else pd.DataFrame()), confidence


def choose_labeller(markup_quality: pd.DataFrame, settings: LLMSettings) -> tuple[dict[str, str], LLMSettings]:
    """The pair that labels the pool (none when labels are imported or simulated), and the settings
    with it pinned as ``llm_annotation.labeller``: what the pool is labelled with."""
    if settings.annotation.source != "annotate":
        return {}, settings
    labeller = choose_best(markup_quality, settings.annotation.labeller)
    pinned = {"strategy": labeller["strategy"], "model": labeller["model"]}
    return labeller, dataclasses.replace(settings, annotation=dataclasses.replace(settings.annotation, labeller=pinned))


def _simulated_labels(
    training_pool: pd.DataFrame, train: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, dict]:
    """The pool's labels simulated from its gold with a real labeller's errors, and what they cost."""
    simulation = settings.annotation.simulation
    real, imported = import_conll_labels(simulation.profile_from, train, settings.schema)
    labels, spend = simulated_pool_labels(training_pool, real, simulation.target_label_f1, simulation.seed)
    spend.update(
        strategy="simulated", model=labels["model"].iloc[0], profile_from=imported["source"], sentences=len(labels)
    )
    logger.info(
        "simulated labels of %d pool sentences: label F1 %.3f (target %.3f; the errors of %s, label F1 %.3f, x%.2f)",
        len(labels),
        spend["label_f1"],
        spend["target_label_f1"],
        imported["source"],
        spend["profile_label_f1"],
        spend["scale"],
    )
    return labels, spend


def label_training_pool(
    training_pool: pd.DataFrame, demonstration_pool: pd.DataFrame, train: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, dict]:
    """``llm_labels`` for the training pool (by the pinned labeller, imported from a CoNLL file, or
    simulated from its gold with a real labeller's errors) and its money."""
    annotation = settings.annotation
    if annotation.source == "import":
        labels, spend = import_conll_labels(annotation.import_path, train, settings.schema)
    elif annotation.source == "simulated":
        labels, spend = _simulated_labels(training_pool, train, settings)
    else:
        labels, spend = label_with_labeller(settings, training_pool, demonstration_pool)
    if annotation.source != "annotate":  # no LLM call here: no confidence, and no money spent
        labels["entity_confidence"], labels["sentence_confidence"] = None, float("nan")
        spend.update(stage="labelling", source=annotation.source, **{name: 0 for name in MONEY_FIELDS})
    kept = apply_failed_policy(labels, annotation.failed_sentences)
    if kept.empty:
        raise ValueError(
            f"no sentence of the training pool got usable LLM labels (statuses "
            f"{spend.get('statuses', 'n/a')}); see the warnings above -- nothing to train a student on"
        )
    spend.update(failed_sentences=annotation.failed_sentences, rows_written=len(kept))
    return kept[LLM_LABEL_COLUMNS].reset_index(drop=True), spend


def count_llm_gold_usage(
    quality_sample: pd.DataFrame, demonstration_pool: pd.DataFrame, labeller: dict[str, str], settings: LLMSettings
) -> pd.DataFrame:
    """Gold labels the LLM labeller consumed: its demonstrations, and the sample that chose it.

    A kNN strategy shows demonstrations retrieved from the whole pool, so the whole pool had to be
    expert-labelled; fixed examples count as the sentences they are. Choosing the labeller as the
    best micro F1 on ``quality_sample`` spends that sample on model selection; a pinned labeller
    only uses it for evaluation (gold spent choosing it elsewhere is outside this run).
    """
    consumer = "llm_labeller"
    if settings.annotation.source == "simulated":  # a what-if: a real labeller of that quality needs no pool gold
        return usage_table(
            [
                gold_usage(
                    consumer,
                    "demonstrations",
                    "simulated labels: none charged (made from the pool's gold, a what-if)",
                    None,
                )
            ]
        )
    if not labeller:  # imported labels: how they were made is not known here
        return usage_table([gold_usage(consumer, "demonstrations", "imported labels: unknown", None)])
    strategy = settings.strategies[labeller["strategy"]]
    if strategy.demonstrations == "knn":
        demonstrations = gold_usage(
            consumer, "demonstrations", f"{strategy.name}: kNN demonstration pool", demonstration_pool
        )
    elif strategy.demonstrations == "fixed":
        examples = pd.DataFrame(
            {
                "tokens": [list(e.tokens) for e in strategy.examples],
                "ner_tags": [list(e.tags) for e in strategy.examples],
            }
        )
        demonstrations = gold_usage(consumer, "demonstrations", f"{strategy.name}: fixed examples", examples)
    else:
        demonstrations = gold_usage(consumer, "demonstrations", f"{strategy.name}: none", None)
    chosen_here = labeller.get("chosen_by") != "configuration"
    selection = gold_usage(
        consumer,
        "model_selection" if chosen_here else "evaluation",
        "validation sample that chose the labeller" if chosen_here else "markup quality sample",
        quality_sample,
    )
    return usage_table([demonstrations, selection])


def summarise_spend(markup_quality: pd.DataFrame, labelling_spend: Mapping[str, Any]) -> dict:
    """The run's money: ``spend_usd`` (fresh calls of this run) and ``label_cost_usd`` (what the
    labels cost to produce, cached or not), for quality evaluation, labelling and in total."""
    evaluation = {name: (markup_quality[name].sum().item() if not markup_quality.empty else 0) for name in MONEY_FIELDS}
    labelling = {name: labelling_spend.get(name, 0) for name in MONEY_FIELDS}
    total = {name: evaluation[name] + labelling[name] for name in MONEY_FIELDS}
    logger.info(
        "LLM money: this run spent $%.4f (%d API calls, %d of them through batch jobs at the batch price; "
        "%d from cache); the labels cost $%.4f to produce",
        total["spend_usd"],
        total["api_calls"],
        total["batch_calls"],
        total["cache_hits"],
        total["label_cost_usd"],
    )
    return {"evaluation": evaluation, "labelling": dict(labelling_spend), "total": total}
