"""F1 against training-set size: for every size and seed, train a fresh tagger on that many sentences.

For one seed the training sets are nested (the first 10, 30, 100... sentences of one seeded
shuffle), so the curve shows the effect of more data rather than of a different sample.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping, Sequence

import pandas as pd

from ..sampling import seeded_order
from .config import TaggerConfig, TrainingConfig
from .evaluation import LabelledSentence, evaluate_on, micro_f1_text
from .tagger import Tagger
from .training import fit

logger = logging.getLogger(__name__)


def learning_curve(
    pool: Sequence[LabelledSentence],
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
    sizes: Sequence[int],
    seeds: Sequence[int],
    tagger_config: TaggerConfig,
    training_config: TrainingConfig,
) -> pd.DataFrame:
    """One row per (size, seed, split, entity_type) with precision, recall, f1, support."""
    if not sizes or any(int(size) <= 0 for size in sizes):
        raise ValueError(f"sizes must be a non-empty list of positive integers, got {list(sizes)!r}")
    if max(sizes) > len(pool):
        raise ValueError(f"sizes asks for {max(sizes)} training sentences but the pool holds {len(pool)}")
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    tables = []
    for seed in seeds:
        order = seeded_order(len(pool), seed)
        for size in sorted(int(s) for s in sizes):
            train = [pool[i] for i in order[:size]]
            tagger = Tagger.build(tagger_config, seed=seed)
            fit(tagger, train, dataclasses.replace(training_config, seed=seed))
            table = evaluate_on(tagger, evaluation_sets, training_config)
            table.insert(0, "seed", seed)
            table.insert(0, "size", size)
            tables.append(table)
            logger.info("learning curve: size=%d seed=%d %s", size, seed, micro_f1_text(table))
    return pd.concat(tables, ignore_index=True)


def summarise_learning_curve(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of F1 over seeds, per size, split and entity type."""
    summary = (
        runs.groupby(["split", "entity_type", "size"], sort=False)["f1"]
        .agg(f1_mean="mean", f1_std="std", runs="count")
        .reset_index()
    )
    summary["f1_std"] = summary["f1_std"].fillna(0.0)  # a single seed has no spread
    return summary.sort_values(["split", "entity_type", "size"], kind="stable").reset_index(drop=True)
