"""Scoring a tagger against gold tags: seqeval entity P/R/F1 per type, token accuracy and loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ..metrics import entity_scores, token_accuracy
from .prediction import probabilities_to_tags, run_inference
from .tagger import Tagger


@dataclass(frozen=True)
class Evaluation:
    scores: pd.DataFrame  # rows PER/ORG/LOC/MISC/micro/macro; columns precision/recall/f1/support
    token_accuracy: float
    loss: float
    predictions: list[list[str]]

    @property
    def f1(self) -> float:
        return float(self.scores.loc["micro", "f1"])

    def to_table(self, split: str) -> pd.DataFrame:
        """One row per entity type, with the split-level token accuracy and loss on every row."""
        table = self.scores.reset_index()
        table.insert(0, "split", split)
        table["token_accuracy"] = self.token_accuracy
        table["loss"] = self.loss
        return table


def evaluate(
    tagger: Tagger,
    sentences: Sequence[Sequence[str]],
    gold_tags: Sequence[Sequence[str]],
    batch_size: int = 64,
    mode: str = "conlleval",
    mixed_precision: bool = True,
) -> Evaluation:
    output = run_inference(tagger, sentences, gold_tags, batch_size, mixed_precision)
    predicted = probabilities_to_tags(output.probabilities, tagger.labels)
    gold = [list(tags) for tags in gold_tags]
    return Evaluation(
        scores=entity_scores(gold, predicted, mode=mode),
        token_accuracy=token_accuracy(gold, predicted),
        loss=float(output.loss) if output.loss is not None else float("nan"),
        predictions=predicted,
    )
