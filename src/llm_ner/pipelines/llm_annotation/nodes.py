"""Thin nodes: sampling, cost estimate, quality evaluation, choice, labelling. The work is in ``llm_ner.llm``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.quality import apply_failed_policy, choose_best, markup_quality_row
from llm_ner.llm.study import AnnotationStudy

logger = logging.getLogger(__name__)

LABEL_SOURCES = ("annotate", "import")
LLM_LABEL_COLUMNS = ["sentence_id", "document_id", "tokens", "gold_tags", "llm_tags", "status", "failure_reason", "strategy", "model"]


def sample_sentences(sentences: pd.DataFrame, size: int, seed: int, exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """A seeded sample of ``size`` sentences (all of them if fewer), in corpus order, none from ``exclude``."""
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"sample size must be a non-negative integer, got {size!r}")
    candidates = sentences if exclude is None else sentences[~sentences["sentence_id"].isin(exclude["sentence_id"])]
    sample = candidates.sample(n=min(size, len(candidates)), random_state=seed)
    return sample.sort_values("sentence_id").reset_index(drop=True)


def sample_demonstration_pool(train: pd.DataFrame, training_pool: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """Gold-labelled train sentences for few-shot retrieval, disjoint from the pool the LLM labels."""
    return sample_sentences(train, size, seed + 1, exclude=training_pool)


def estimate_costs(quality_sample: pd.DataFrame, training_pool: pd.DataFrame, demonstration_pool: pd.DataFrame,
                   params: dict[str, Any], models: dict[str, Any], prompts: dict[str, Any], prices: dict[str, Any]) -> pd.DataFrame:
    """Dry run before any call: what evaluating every pair, and labelling the pool with each, would cost."""
    study = AnnotationStudy.from_params(params, models, prompts, prices)
    try:
        rows = []
        for strategy, model in study.pairs(params.get("evaluate")):
            rows.append(study.estimate(strategy, model, quality_sample, demonstration_pool, "quality"))
            if params.get("source", "annotate") == "annotate":
                rows.append(study.estimate(strategy, model, training_pool, demonstration_pool, "labelling"))
    finally:
        study.close()
    estimate = pd.DataFrame(rows)
    if not estimate.empty:
        quality = estimate[estimate["stage"] == "quality"]
        logger.info("dry run: evaluation needs %d calls, estimated $%.4f; labelling estimates per pair saved",
                    quality["calls_to_make"].sum(), quality["estimated_cost_usd"].sum())
    return estimate


def evaluate_markup_quality(quality_sample: pd.DataFrame, demonstration_pool: pd.DataFrame, cost_estimate: pd.DataFrame,
                            params: dict[str, Any], models: dict[str, Any], prompts: dict[str, Any], prices: dict[str, Any],
                            credentials: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every configured strategy x model on the validation sample: ``markup_quality`` and the labels behind it.

    ``cost_estimate`` is taken only so that the dry-run estimate is saved before the first call.
    """
    study = AnnotationStudy.from_params(params, models, prompts, prices, credentials)
    mode = params.get("evaluation_mode", "conlleval")
    rows, labels = [], []
    try:
        for strategy, model in study.pairs(params.get("evaluate")):
            run = study.annotate(strategy, model, quality_sample, demonstration_pool)
            row = markup_quality_row(run.labels, mode)
            row["retries"] = run.retries
            rows.append(row)
            labels.append(run.labels)
    finally:
        study.close()
    quality = pd.DataFrame(rows)
    if not quality.empty:
        logger.info("markup quality:\n%s", quality[["strategy", "model", "f1", "parse_failure_rate", "seconds_per_sentence", "api_calls"]].to_string())
    return quality, (pd.concat(labels, ignore_index=True) if labels else pd.DataFrame())


def choose_labeller(markup_quality: pd.DataFrame, params: dict[str, Any]) -> dict[str, str]:
    """The pair that labels the pool; none is needed when labels are imported."""
    if params.get("source", "annotate") == "import" and markup_quality.empty:
        return {}
    return choose_best(markup_quality, params.get("labeller", "best"))


def label_training_pool(training_pool: pd.DataFrame, demonstration_pool: pd.DataFrame, train: pd.DataFrame,
                        labeller: dict[str, str] | None, params: dict[str, Any], models: dict[str, Any],
                        prompts: dict[str, Any], prices: dict[str, Any], credentials: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """``llm_labels`` for the training pool (by the chosen pair, or imported from a CoNLL file) and the spend."""
    source = params.get("source", "annotate")
    if source not in LABEL_SOURCES:
        raise ValueError(f"llm_annotation.source must be one of {LABEL_SOURCES}, got {source!r}")
    if source == "import":
        if not params.get("import_path"):
            raise ValueError("llm_annotation.source 'import' needs llm_annotation.import_path (a CoNLL file of LLM labels)")
        labels, spend = import_conll_labels(params["import_path"], train)
        spend.update(stage="labelling", source="import", api_calls=0, cost_usd=0.0)
    else:
        study = AnnotationStudy.from_params(params, models, prompts, prices, credentials)
        try:
            estimate = study.estimate(labeller["strategy"], labeller["model"], training_pool, demonstration_pool, "labelling")
            logger.info("labelling %d sentences with %s x %s: %d calls to make, estimated $%.4f",
                        len(training_pool), labeller["strategy"], labeller["model"], estimate["calls_to_make"], estimate["estimated_cost_usd"])
            run = study.annotate(labeller["strategy"], labeller["model"], training_pool, demonstration_pool)
        finally:
            study.close()
        labels = run.labels
        spend = {
            "stage": "labelling", "source": "annotate", "strategy": labeller["strategy"], "model": labeller["model"],
            "sentences": len(labels), "statuses": {k: int(v) for k, v in labels["status"].value_counts().items()},
            "api_calls": run.totals.api_calls, "cache_hits": run.totals.cache_hits, "retries": run.retries,
            "input_tokens": run.totals.input_tokens, "output_tokens": run.totals.output_tokens,
            "cost_usd": float(labels["cost_usd"].sum()), "estimate": estimate,
        }
    policy = params.get("failed_sentences", "drop")
    kept = apply_failed_policy(labels, policy)
    spend["failed_sentences"] = policy
    spend["rows_written"] = len(kept)
    return kept[LLM_LABEL_COLUMNS].reset_index(drop=True), spend


def summarise_spend(markup_quality: pd.DataFrame, labelling_spend: dict) -> dict:
    """Actual spend of the whole run: quality evaluation plus labelling."""
    evaluation = {
        "api_calls": int(markup_quality["api_calls"].sum()) if not markup_quality.empty else 0,
        "cache_hits": int(markup_quality["cache_hits"].sum()) if not markup_quality.empty else 0,
        "cost_usd": float(markup_quality["cost_usd"].sum()) if not markup_quality.empty else 0.0,
    }
    total = evaluation["cost_usd"] + float(labelling_spend.get("cost_usd", 0.0))
    return {"evaluation": evaluation, "labelling": labelling_spend, "total_cost_usd": total}
