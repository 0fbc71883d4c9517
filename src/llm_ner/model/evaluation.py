"""Scoring a tagger against gold tags: seqeval entity P/R/F1 per type, token accuracy and loss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ..metrics import entity_scores, token_accuracy
from ..tags import entity_types_of
from .config import TrainingConfig
from .examples import LabelledSentence, labelled_sentences
from .prediction import predict_sequence_proba, probabilities_to_tags, run_inference
from .tagger import Tagger


@dataclass(frozen=True)
class Evaluation:
    scores: pd.DataFrame  # a row per entity type of the tagger, micro, macro; columns precision/recall/f1/support
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
        scores=entity_scores(gold, predicted, mode=mode, types=entity_types_of(tagger.labels)),
        token_accuracy=token_accuracy(gold, predicted),
        loss=float(output.loss) if output.loss is not None else float("nan"),
        predictions=predicted,
    )


def evaluate_labelled(tagger: Tagger, sentences: Sequence[LabelledSentence], config: TrainingConfig) -> Evaluation:
    """:func:`evaluate` on labelled sentences, with the batch size, scoring mode and precision of ``config``."""
    return evaluate(
        tagger,
        [s[0] for s in sentences],
        [s[1] for s in sentences],
        config.eval_batch_size,
        config.evaluation_mode,
        config.mixed_precision,
    )


def evaluate_on(
    tagger: Tagger, evaluation_sets: Mapping[str, Sequence[LabelledSentence]], config: TrainingConfig
) -> pd.DataFrame:
    """:meth:`Evaluation.to_table` rows of ``tagger`` on every named evaluation set (column ``split``),
    with the batch size, scoring mode and precision of ``config``."""
    return pd.concat(
        [evaluate_labelled(tagger, sentences, config).to_table(split) for split, sentences in evaluation_sets.items()],
        ignore_index=True,
    )


REPORTED_SPLITS = ("validation", "test")


def evaluation_samples_table(validation: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """The reported validation and test samples as one table (column ``split``): what every
    pipeline scores its students on, passed around as one dataset."""
    return pd.concat([validation.assign(split="validation"), test.assign(split="test")], ignore_index=True)


def evaluation_sample(samples: pd.DataFrame, split: str) -> pd.DataFrame:
    """One reported sample (``validation`` | ``test``) of :func:`evaluation_samples_table`."""
    if split not in REPORTED_SPLITS:
        raise ValueError(f"reported samples are {list(REPORTED_SPLITS)}, got {split!r}")
    return samples[samples["split"] == split].drop(columns="split").reset_index(drop=True)


def reported_sets(samples: pd.DataFrame) -> dict[str, list[LabelledSentence]]:
    """The reported samples as :func:`evaluate_on`'s sets: every student of the study is scored
    on the same two."""
    return {split: labelled_sentences(evaluation_sample(samples, split)) for split in REPORTED_SPLITS}


def micro_rows(table: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The micro-average rows of one split, from any table shaped like :func:`evaluate_on`'s
    (its runs and summaries too: columns ``split`` and ``entity_type``)."""
    return table[(table["split"] == split) & (table["entity_type"] == "micro")]


@dataclass(frozen=True)
class SequenceEvaluation:
    accuracy: float
    macro_f1: float
    weighted_f1: float  # per-class F1 weighted by support
    predictions: list[int]
    sentences: int


def evaluate_sequences(
    tagger: Tagger,
    sentences: Sequence[Sequence[str]],
    topics: Sequence[int],
    batch_size: int = 64,
    mixed_precision: bool = True,
) -> SequenceEvaluation:
    """A multitask tagger's sequence head against reference classes (sentences with topic -1 left out)."""
    kept = [i for i, topic in enumerate(topics) if topic >= 0]
    if not kept:
        raise ValueError("no sentence with a topic to evaluate the sequence head on")
    probabilities = predict_sequence_proba(tagger, [sentences[i] for i in kept], batch_size, mixed_precision)
    predicted = probabilities.argmax(axis=1)
    reference = np.array([topics[i] for i in kept])
    classes = list(range(len(tagger.config.sequence_classes)))
    return SequenceEvaluation(
        accuracy=float((predicted == reference).mean()),
        macro_f1=float(f1_score(reference, predicted, labels=classes, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(reference, predicted, labels=classes, average="weighted", zero_division=0)),
        predictions=predicted.tolist(),
        sentences=len(kept),
    )
