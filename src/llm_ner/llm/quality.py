"""Markup quality: LLM labels scored against gold, with failure rates, latency, tokens and cost."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from ..metrics import entity_scores
from ..tags import ENTITY_TYPES, OUTSIDE

FAILED_SENTENCE_POLICIES = ("drop", "all_o")


def tags_or_outside(labels: pd.DataFrame) -> list[list[str]]:
    """LLM tags with failed sentences read as all-O -- a failure costs recall, it is not skipped."""
    return [list(tags) if tags is not None else [OUTSIDE] * len(tokens) for tokens, tags in zip(labels["tokens"], labels["llm_tags"])]


def markup_quality_row(labels: pd.DataFrame, mode: str = "conlleval") -> dict:
    """One row of the ``markup_quality`` table for the labels of one strategy x model."""
    scores = entity_scores([list(t) for t in labels["gold_tags"]], tags_or_outside(labels), mode=mode)
    n = len(labels)
    row = {
        "strategy": labels["strategy"].iloc[0],
        "model": labels["model"].iloc[0],
        "sentences": n,
        "precision": scores.at["micro", "precision"],
        "recall": scores.at["micro", "recall"],
        "f1": scores.at["micro", "f1"],
        "macro_f1": scores.at["macro", "f1"],
    }
    for etype in ENTITY_TYPES:
        for metric in ("precision", "recall", "f1"):
            row[f"{etype}_{metric}"] = scores.at[etype, metric]
    row.update(
        parse_failure_rate=(labels["status"] == "failed").mean() if n else 0.0,
        repaired_rate=(labels["status"] == "repaired").mean() if n else 0.0,
        seconds_per_sentence=labels["seconds"].sum() / n if n else 0.0,
        input_tokens=int(labels["input_tokens"].sum()),
        output_tokens=int(labels["output_tokens"].sum()),
        cost_usd=float(labels["cost_usd"].sum()),
        api_calls=int(labels["api_calls"].sum()),
        cache_hits=int(labels["cache_hits"].sum()),
    )
    return row


def choose_best(quality: pd.DataFrame, configured: Mapping[str, str] | str = "best") -> dict[str, str]:
    """The strategy x model that labels the pool: a configured pair, or the best micro F1 (cheaper wins ties)."""
    if isinstance(configured, Mapping):
        if set(configured) != {"strategy", "model"}:
            raise ValueError(f"labeller must be 'best' or {{strategy: ..., model: ...}}, got {dict(configured)!r}")
        return {"strategy": configured["strategy"], "model": configured["model"], "chosen_by": "configuration"}
    if configured != "best":
        raise ValueError(f"labeller must be 'best' or {{strategy: ..., model: ...}}, got {configured!r}")
    if quality.empty:
        raise ValueError("labeller 'best' needs at least one evaluated strategy x model in `evaluate`")
    ranked = quality.sort_values(["f1", "cost_usd", "seconds_per_sentence"], ascending=[False, True, True])
    best = ranked.iloc[0]
    return {"strategy": str(best["strategy"]), "model": str(best["model"]), "chosen_by": f"best micro F1 ({best['f1']:.3f})"}


def apply_failed_policy(labels: pd.DataFrame, policy: str) -> pd.DataFrame:
    if policy not in FAILED_SENTENCE_POLICIES:
        raise ValueError(f"failed_sentences must be one of {FAILED_SENTENCE_POLICIES}, got {policy!r}")
    if policy == "drop":
        return labels[labels["status"] != "failed"].reset_index(drop=True)
    labels = labels.copy()
    labels["llm_tags"] = tags_or_outside(labels)
    return labels
