"""Markup quality: LLM labels scored against gold, with failure rates, latency, tokens, money, and how
well the LLM's own confidence predicts its mistakes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..metrics import bootstrap_f1, entity_scores
from ..tags import CONLL_2003, OUTSIDE, LabelSchema, bio_to_spans

FAILED_SENTENCE_POLICIES = ("drop", "all_o")


def tags_or_outside(labels: pd.DataFrame) -> list[list[str]]:
    """LLM tags with failed sentences read as all-O -- a failure costs recall, it is not skipped."""
    return [
        list(tags) if tags is not None else [OUTSIDE] * len(tokens)
        for tokens, tags in zip(labels["tokens"], labels["llm_tags"])
    ]


def markup_quality_row(labels: pd.DataFrame, mode: str = "conlleval", schema: LabelSchema = CONLL_2003) -> dict:
    """One row of the ``markup_quality`` table for the labels of one strategy x model."""
    gold, predicted = [list(t) for t in labels["gold_tags"]], tags_or_outside(labels)
    scores = entity_scores(gold, predicted, mode=mode, types=schema.names)
    interval = bootstrap_f1(gold, predicted)  # spans read as conlleval reads them (bio_to_spans)
    n = len(labels)
    row = {
        "strategy": labels["strategy"].iloc[0],
        "model": labels["model"].iloc[0],
        "sentences": n,
        "precision": scores.at["micro", "precision"],
        "recall": scores.at["micro", "recall"],
        "f1": scores.at["micro", "f1"],
        "f1_low": interval.low,  # 95 % bootstrap interval over the sentences
        "f1_high": interval.high,
        "macro_f1": scores.at["macro", "f1"],
    }
    for etype in schema.names:
        for metric in ("precision", "recall", "f1"):
            row[f"{etype}_{metric}"] = scores.at[etype, metric]
    row.update(
        parse_failure_rate=(labels["status"] == "failed").mean() if n else 0.0,
        repaired_rate=(labels["status"] == "repaired").mean() if n else 0.0,
        seconds_per_sentence=labels["seconds"].sum() / n if n else 0.0,
        # prompt length is what a local model's time goes into (and an API's input bill)
        prompt_tokens_per_sentence=labels["input_tokens"].sum() / n if n else 0.0,
        input_tokens=int(labels["input_tokens"].sum()),
        output_tokens=int(labels["output_tokens"].sum()),
        label_cost_usd=float(labels["label_cost_usd"].sum()),
        spend_usd=float(labels["spend_usd"].sum()),
        api_calls=int(labels["api_calls"].sum()),
        batch_calls=int(labels["batch_calls"].sum()),
        cache_hits=int(labels["cache_hits"].sum()),
        confidence_auroc=confidence_auroc(labels),
    )
    return row


def sentence_is_right(labels: pd.DataFrame) -> np.ndarray:
    """Per sentence: the LLM found exactly the gold entities (no wrong, missing or mistyped one)."""
    return np.array(
        [
            set(bio_to_spans(list(gold))) == set(bio_to_spans(list(tags)))
            for gold, tags in zip(labels["gold_tags"], tags_or_outside(labels))
        ]
    )


def confidence_auroc(labels: pd.DataFrame) -> float:
    """How well ``sentence_confidence`` separates right sentences from those with >= 1 wrong entity:
    the chance that a right sentence scores higher than a wrong one (0.5 = no signal; NaN when
    there is no confidence or only one kind of sentence)."""
    if "sentence_confidence" not in labels or labels["sentence_confidence"].isna().all():
        return float("nan")
    right = sentence_is_right(labels)
    if right.all() or not right.any():
        return float("nan")
    return float(roc_auc_score(right, labels["sentence_confidence"].fillna(0.0)))


def confidence_thresholds(
    labels: pd.DataFrame, kept_shares=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1), mode: str = "conlleval"
) -> pd.DataFrame:
    """Micro F1 of the labels kept when only the most confident share of sentences is kept.

    If confidence predicts errors, F1 rises as the share falls: the dropped sentences are the
    ones an expert should label.
    """
    if "sentence_confidence" not in labels or labels["sentence_confidence"].isna().all():
        return pd.DataFrame()
    ranked = labels.assign(_score=labels["sentence_confidence"].fillna(0.0)).sort_values(
        "_score", ascending=False, kind="stable"
    )
    rows = []
    for share in kept_shares:
        kept = ranked.head(max(1, round(share * len(ranked))))
        scores = entity_scores([list(t) for t in kept["gold_tags"]], tags_or_outside(kept), mode=mode)
        rows.append(
            {
                "strategy": labels["strategy"].iloc[0],
                "model": labels["model"].iloc[0],
                "kept_share": share,
                "sentences": len(kept),
                "threshold": float(kept["_score"].min()),
                "f1": scores.at["micro", "f1"],
                "right_sentence_share": float(sentence_is_right(kept).mean()),
            }
        )
    return pd.DataFrame(rows)


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
    ranked = quality.sort_values(["f1", "label_cost_usd", "seconds_per_sentence"], ascending=[False, True, True])
    best = ranked.iloc[0]
    return {
        "strategy": str(best["strategy"]),
        "model": str(best["model"]),
        "chosen_by": f"best micro F1 ({best['f1']:.3f})",
    }


def apply_failed_policy(labels: pd.DataFrame, policy: str) -> pd.DataFrame:
    if policy not in FAILED_SENTENCE_POLICIES:
        raise ValueError(f"failed_sentences must be one of {FAILED_SENTENCE_POLICIES}, got {policy!r}")
    if policy == "drop":
        return labels[labels["status"] != "failed"].reset_index(drop=True)
    labels = labels.copy()
    labels["llm_tags"] = tags_or_outside(labels)
    return labels
