"""Entity-level NER metrics (seqeval), shared by LLM-markup scoring and model evaluation."""

from __future__ import annotations

from collections.abc import Sequence

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
