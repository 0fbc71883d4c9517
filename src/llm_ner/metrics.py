"""Entity-level NER metrics (seqeval), shared by LLM-markup scoring and model evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from .tags import bio_to_spans

# conlleval-compatible by default (the number published for CoNLL-2003); "strict" uses the IOB2
# scheme, which counts an entity that starts with I- as wrong instead of silently repairing it.
EVALUATION_MODES = ("conlleval", "strict")


def entity_scores(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    mode: str = "conlleval",
    types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Precision/recall/F1/support per entity type plus ``micro`` and ``macro`` rows.

    ``types`` (a schema's names) fixes the per-type rows: a type absent from both gold and
    predictions still gets a row (all zeros) so tables line up. ``None``: the types that occur.
    """
    if mode not in EVALUATION_MODES:
        raise ValueError(f"evaluation mode must be one of {EVALUATION_MODES}, got {mode!r}")
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")
    strict = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    report = classification_report(
        [list(s) for s in gold], [list(s) for s in predicted], output_dict=True, zero_division=0, **strict
    )
    occurring = sorted(k for k in report if not k.endswith(" avg"))
    rows = {}
    for name in types if types is not None else occurring:
        row = report.get(name, {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
        rows[name] = row
    rows["micro"] = report["micro avg"]
    rows["macro"] = report["macro avg"]  # seqeval: mean over the types seen in gold or predictions
    table = pd.DataFrame.from_dict(rows, orient="index").rename(columns={"f1-score": "f1"})
    table["support"] = table["support"].astype(int)
    table.index.name = "entity_type"
    return table[["precision", "recall", "f1", "support"]]


def token_accuracy(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    pairs = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)]
    return sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0


def micro_span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Micro F1 over exact (start, end, type) spans: :func:`entity_scores`'s micro F1 for valid IOB2
    tags, without seqeval's per-call cost -- the labeller simulator calls it thousands of times while
    it calibrates. 1.0 when neither side has an entity."""
    true_positives = n_gold = n_predicted = 0
    for gold_tags, predicted_tags in zip(gold, predicted):
        gold_spans, predicted_spans = set(bio_to_spans(gold_tags)), set(bio_to_spans(predicted_tags))
        true_positives += len(gold_spans & predicted_spans)
        n_gold += len(gold_spans)
        n_predicted += len(predicted_spans)
    return 2 * true_positives / (n_gold + n_predicted) if n_gold + n_predicted else 1.0


def span_counts(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> np.ndarray:
    """Per sentence: exact (start, end, type) spans found in both, in gold, in predicted -- (n, 3)."""
    counts = np.zeros((len(gold), 3), dtype=np.int64)
    for i, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        gold_spans, predicted_spans = set(bio_to_spans(gold_tags)), set(bio_to_spans(predicted_tags))
        counts[i] = len(gold_spans & predicted_spans), len(gold_spans), len(predicted_spans)
    return counts


def _f1_of(counts: np.ndarray) -> np.ndarray:
    """Micro F1 of summed span counts (..., 3); 1.0 where neither side has an entity."""
    found, n_gold, n_predicted = counts[..., 0], counts[..., 1], counts[..., 2]
    total = n_gold + n_predicted
    return np.where(total > 0, 2 * found / np.maximum(total, 1), 1.0)


@dataclass(frozen=True)
class Interval:
    """A statistic and its percentile bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Bootstrap:
    """How an interval is drawn: ``resamples`` draws of the sentences with replacement (seeded), and
    the central ``confidence`` share of the resampled statistic (percentile interval)."""

    resamples: int = 2000
    seed: int = 0
    confidence: float = 0.95

    def draws(self, n: int) -> np.ndarray:
        """(resamples, n) sentence indices."""
        return np.random.default_rng(self.seed).integers(0, n, size=(self.resamples, n))

    def interval(self, value: float, resampled: np.ndarray) -> Interval:
        tail = (1 - self.confidence) / 2 * 100
        low, high = np.percentile(resampled, [tail, 100 - tail])
        return Interval(float(value), float(low), float(high))


NO_INTERVAL = Interval(float("nan"), float("nan"), float("nan"))


def bootstrap_f1(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], bootstrap: Bootstrap = Bootstrap()
) -> Interval:
    """Micro span F1 with a percentile bootstrap interval over sentences (the unit that was sampled)."""
    counts = span_counts(gold, predicted)
    if not len(counts):
        return NO_INTERVAL
    resampled = _f1_of(counts[bootstrap.draws(len(counts))].sum(axis=1))
    return bootstrap.interval(_f1_of(counts.sum(axis=0)), resampled)


def paired_bootstrap_difference(
    gold: Sequence[Sequence[str]],
    baseline: Sequence[Sequence[str]],
    other: Sequence[Sequence[str]],
    bootstrap: Bootstrap = Bootstrap(),
) -> Interval:
    """F1(other) - F1(baseline) on the same sentences, with a paired bootstrap interval: both are
    scored on each draw of the sentences, so the interval reflects the change, not the sample."""
    a, b = span_counts(gold, baseline), span_counts(gold, other)
    if not len(a):
        return NO_INTERVAL
    draws = bootstrap.draws(len(a))
    differences = _f1_of(b[draws].sum(axis=1)) - _f1_of(a[draws].sum(axis=1))
    return bootstrap.interval(_f1_of(b.sum(axis=0)) - _f1_of(a.sum(axis=0)), differences)
