"""F1 against training-set size: for every size and seed, a fresh student on that many gold sentences.

For one seed the training sets are nested (the first 10, 30, 100... sentences of one seeded
shuffle), so the curve shows the effect of more data rather than of a different sample. Each
size x seed is a grid cell (:mod:`llm_ner.grid`) trained under the study's one protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..grid import Cell, Grid, summarise
from ..sampling import seeded_order
from ..students import Protocol, Student
from .evaluation import LabelledSentence
from .examples import as_labelled


def learning_curve_cells(
    pool: Sequence[LabelledSentence],
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
    sizes: Sequence[int],
    seeds: Sequence[int],
    protocol: Protocol,
) -> list[Cell]:
    if not sizes or any(int(size) <= 0 for size in sizes):
        raise ValueError(f"sizes must be a non-empty list of positive integers, got {list(sizes)!r}")
    if max(sizes) > len(pool):
        raise ValueError(f"sizes asks for {max(sizes)} training sentences but the pool holds {len(pool)}")
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    cells = []
    for seed in seeds:
        order = seeded_order(len(pool), seed)
        for size in sorted(int(s) for s in sizes):
            train = tuple(as_labelled(pool[i]) for i in order[:size])
            info = {"gold_tokens": sum(len(s.tokens) for s in train)}
            cells.append(
                Cell({"size": size, "seed": seed}, Student(protocol, (train,), seed, evaluation_sets, info=info))
            )
    return cells


def learning_curve(
    pool: Sequence[LabelledSentence],
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
    sizes: Sequence[int],
    seeds: Sequence[int],
    protocol: Protocol,
    grid: Grid = Grid(),
) -> pd.DataFrame:
    """One row per (size, seed, split, entity_type) with precision, recall, f1, support."""
    return grid.table("learning_curve", learning_curve_cells(pool, evaluation_sets, sizes, seeds, protocol))


def summarise_learning_curve(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of F1 over seeds, per size, split and entity type."""
    summary = summarise(
        runs,
        ["split", "entity_type", "size"],
        "seed",
        ["f1"],
        constants={"gold_tokens": "mean"} if "gold_tokens" in runs else None,
        count="runs",
    )
    return summary.sort_values(["split", "entity_type", "size"], kind="stable").reset_index(drop=True)
