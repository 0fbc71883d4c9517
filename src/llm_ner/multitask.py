"""Seed S2's comparison: token-only, sequence-only and multitask taggers (one encoder, a token head
and a sequence head, L = alpha L_sequence + beta L_token) trained on the same sentences for the same
epochs, scored on token F1 / accuracy against gold tags and on topic F1 / accuracy against the
LLM's topics (CoNLL has no gold topics)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.metrics import confusion_matrix

from .grid import Cell, CellOutput, Grid, rows_of
from .grid import summarise as grid_summarise
from .model import Tagger
from .model.evaluation import evaluate, evaluate_sequences
from .model.examples import LabelledSentence
from .students import Protocol, Student

DESIGN_KEYS = {"alpha", "beta"}


def loss_weights(designs: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """``{name: {alpha, beta}}`` from YAML -> ``{name: (alpha, beta)}``, each checked."""
    weights = {}
    for name, design in designs.items():
        if set(design) != DESIGN_KEYS:
            raise ValueError(f"multitask.designs.{name} must have exactly {sorted(DESIGN_KEYS)}, got {sorted(design)}")
        alpha, beta = float(design["alpha"]), float(design["beta"])
        if alpha < 0 or beta < 0 or alpha == beta == 0:
            raise ValueError(
                f"multitask.designs.{name}: alpha and beta must be >= 0 and not both 0, got {alpha}, {beta}"
            )
        weights[name] = (alpha, beta)
    if not weights:
        raise ValueError("multitask.designs must name at least one design")
    return weights


@dataclass(frozen=True)
class MultitaskRun:
    """Grid job: one design (alpha, beta) x seed -- a :class:`~llm_ner.students.Student` trained
    with loss L = alpha L_sequence + beta L_token, then scored on tags (when beta > 0) and topics
    (when alpha > 0); with ``keep``, its model and topic predictions come back too."""

    student: Student
    alpha: float
    beta: float
    keep: bool = False

    def run(self) -> CellOutput:
        tagger, results = self.student.train()
        config = self.student.protocol.trainer
        epochs, seconds = sum(len(r.history) for r in results), sum(float(r.history["seconds"].sum()) for r in results)
        rows, predictions = [], {}
        for split, sentences in self.student.evaluation_sets.items():
            row: dict[str, Any] = {
                "alpha": self.alpha,
                "beta": self.beta,
                "split": split,
                "epochs": epochs,
                "seconds": seconds,
            }
            words = [s.tokens for s in sentences]
            if self.beta > 0:
                scores = evaluate(
                    tagger,
                    words,
                    [s.tags for s in sentences],
                    config.eval_batch_size,
                    config.evaluation_mode,
                    config.mixed_precision,
                )
                row.update(token_f1=scores.f1, token_accuracy=scores.token_accuracy)
            if self.alpha > 0:
                topics = evaluate_sequences(
                    tagger, words, [s.topic for s in sentences], config.eval_batch_size, config.mixed_precision
                )
                row.update(
                    sequence_f1=topics.weighted_f1,
                    sequence_macro_f1=topics.macro_f1,
                    sequence_accuracy=topics.accuracy,
                    topic_sentences=topics.sentences,
                )
                predictions[split] = topics.predictions
            rows.append(row)
        artifacts = {"model": tagger.cpu(), "predictions": predictions} if self.keep else {}
        return CellOutput(pd.DataFrame(rows), artifacts)


def multitask_cells(
    train: Sequence[LabelledSentence],
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
    designs: Mapping[str, tuple[float, float]],
    seeds: Sequence[int],
    protocol: Protocol,
    keep: str | None = None,
) -> list[Cell]:
    """Every design x seed on the same sentences and epochs (ids ``design``, ``seed``); the first
    seed of design ``keep`` returns its model and topic predictions."""
    cells = []
    for name, (alpha, beta) in designs.items():
        trainer = dataclasses.replace(protocol.trainer, sequence_loss_weight=alpha, token_loss_weight=beta)
        weighted = dataclasses.replace(protocol, trainer=trainer)
        for i, seed in enumerate(seeds):
            student = Student(weighted, (tuple(train),), seed, evaluation_sets)
            cells.append(
                Cell({"design": name, "seed": seed}, MultitaskRun(student, alpha, beta, name == keep and i == 0))
            )
    return cells


def multitask_runs(
    train: Sequence[LabelledSentence],
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
    designs: Mapping[str, tuple[float, float]],
    seeds: Sequence[int],
    protocol: Protocol,
    keep: str | None = None,
    grid: Grid = Grid(),
) -> tuple[pd.DataFrame, Tagger | None, dict[str, list[int]]]:
    """One row per (design, seed, split) with the token scores (when beta > 0) and the topic scores
    (when alpha > 0). Returns the table, the first seed's tagger of design ``keep`` and its topic
    predictions per split."""
    outputs = grid.run("multitask", multitask_cells(train, evaluation_sets, designs, seeds, protocol, keep))
    kept = next((output.artifacts for output in outputs if output.artifacts), {})
    return rows_of(outputs), kept.get("model"), kept.get("predictions", {})


SCORES = ("token_f1", "token_accuracy", "sequence_f1", "sequence_macro_f1", "sequence_accuracy")


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per design and split: S2's Table 2 (token F1 / accuracy, sequence F1 / accuracy)."""
    return grid_summarise(runs, ["design", "alpha", "beta", "split"], "seed", SCORES)


def confusion(reference: Sequence[int], predicted: Sequence[int], classes: Sequence[str]) -> pd.DataFrame:
    """Counts of (reference class, predicted class) as a square table, reference classes as rows."""
    counts = confusion_matrix(reference, predicted, labels=list(range(len(classes))))
    return pd.DataFrame(counts, index=pd.Index(list(classes), name="llm_topic"), columns=list(classes)).reset_index()
