"""Seed S2's comparison: token-only, sequence-only and multitask taggers (one encoder, a token head
and a sequence head, L = alpha L_sequence + beta L_token) trained on the same sentences for the same
epochs, scored on token F1 / accuracy against gold tags and on topic F1 / accuracy against the
LLM's topics (CoNLL has no gold topics)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Mapping, Sequence

import pandas as pd
from sklearn.metrics import confusion_matrix

from .model import Tagger, TaggerConfig, TrainingConfig, fit
from .model.evaluation import evaluate, evaluate_sequences
from .model.examples import LabelledSentence

DESIGN_KEYS = {"alpha", "beta"}


def loss_weights(designs: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """``{name: {alpha, beta}}`` from YAML -> ``{name: (alpha, beta)}``, each checked."""
    weights = {}
    for name, design in designs.items():
        if set(design) != DESIGN_KEYS:
            raise ValueError(f"multitask.designs.{name} must have exactly {sorted(DESIGN_KEYS)}, got {sorted(design)}")
        alpha, beta = float(design["alpha"]), float(design["beta"])
        if alpha < 0 or beta < 0 or alpha == beta == 0:
            raise ValueError(f"multitask.designs.{name}: alpha and beta must be >= 0 and not both 0, got {alpha}, {beta}")
        weights[name] = (alpha, beta)
    if not weights:
        raise ValueError("multitask.designs must name at least one design")
    return weights


def multitask_runs(train: Sequence[LabelledSentence], evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
                   designs: Mapping[str, tuple[float, float]], seeds: Sequence[int], tagger_config: TaggerConfig,
                   training_config: TrainingConfig, keep: str | None = None
                   ) -> tuple[pd.DataFrame, Tagger | None, dict[str, list[int]]]:
    """Every design x seed from the same sentences: one row per (design, seed, split) with the token
    scores (when beta > 0) and the topic scores (when alpha > 0). Returns the table, the first
    seed's tagger of design ``keep`` and its topic predictions per split."""
    rows, kept, predictions = [], None, {}
    for name, (alpha, beta) in designs.items():
        for i, seed in enumerate(seeds):
            tagger = Tagger.build(tagger_config, seed=seed)
            config = dataclasses.replace(training_config, seed=seed, sequence_loss_weight=alpha, token_loss_weight=beta)
            history = fit(tagger, train, config).history
            for split, sentences in evaluation_sets.items():
                row: dict[str, Any] = {"design": name, "alpha": alpha, "beta": beta, "seed": seed, "split": split,
                                       "epochs": len(history), "seconds": float(history["seconds"].sum())}
                words = [s.tokens for s in sentences]
                if beta > 0:
                    scores = evaluate(tagger, words, [s.tags for s in sentences], config.eval_batch_size,
                                      config.evaluation_mode, config.mixed_precision)
                    row.update(token_f1=scores.f1, token_accuracy=scores.token_accuracy)
                if alpha > 0:
                    topics = evaluate_sequences(tagger, words, [s.topic for s in sentences], config.eval_batch_size,
                                                config.mixed_precision)
                    row.update(sequence_f1=topics.weighted_f1, sequence_macro_f1=topics.macro_f1,
                               sequence_accuracy=topics.accuracy, topic_sentences=topics.sentences)
                    if name == keep and i == 0:
                        predictions[split] = topics.predictions
                rows.append(row)
            if name == keep and i == 0:
                kept = copy.deepcopy(tagger).cpu()
    return pd.DataFrame(rows), kept, predictions


SCORES = ("token_f1", "token_accuracy", "sequence_f1", "sequence_macro_f1", "sequence_accuracy")


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per design and split: S2's Table 2 (token F1 / accuracy, sequence F1 / accuracy)."""
    scores = [s for s in SCORES if s in runs]
    table = runs.groupby(["design", "alpha", "beta", "split"], sort=False)[scores].agg(["mean", "std"])
    table.columns = [f"{score}_{stat}" for score, stat in table.columns]
    table["seeds"] = runs.groupby(["design", "alpha", "beta", "split"], sort=False)["seed"].nunique()
    return table.reset_index()


def confusion(reference: Sequence[int], predicted: Sequence[int], classes: Sequence[str]) -> pd.DataFrame:
    """Counts of (reference class, predicted class) as a square table, reference classes as rows."""
    counts = confusion_matrix(reference, predicted, labels=list(range(len(classes))))
    return pd.DataFrame(counts, index=pd.Index(list(classes), name="llm_topic"), columns=list(classes)).reset_index()
