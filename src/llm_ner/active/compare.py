"""Strategies against a baseline (``random``) from the loop histories of several seeds: F1 against
expert labels, the area under that curve, the labels (and dollars) needed to reach a target F1,
and a paired comparison at equal budget."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..grid import summarise


def learning_curves(history: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``<split>_f1`` per strategy and expert labels added."""
    return summarise(history.rename(columns={f"{split}_f1": "f1"}), ["strategy", "added"], "seed", ["f1", "expert_usd"])


def _area(rows: pd.DataFrame, column: str) -> float:
    """Trapezoidal area under F1 over expert labels, divided by the labels spanned: a mean F1."""
    rows = rows.sort_values("added")
    span = rows["added"].iloc[-1] - rows["added"].iloc[0]
    if span == 0:
        return float(rows[column].iloc[0])
    values, added = rows[column].to_numpy(), rows["added"].to_numpy()
    return float(((values[1:] + values[:-1]) / 2 * np.diff(added)).sum() / span)


def _first_reaching(rows: pd.DataFrame, column: str, target: float) -> tuple[float, float]:
    reached = rows.sort_values("added")
    reached = reached[reached[column] >= target]
    if reached.empty:
        return float("nan"), float("nan")
    return float(reached["added"].iloc[0]), float(reached["expert_usd"].iloc[0])


def compare_strategies(
    history: pd.DataFrame, target_f1: float, baseline: str | None = "random", split: str = "test"
) -> pd.DataFrame:
    """One row per strategy, over its seeds:

    * ``area_mean`` / ``area_std`` -- area under F1 over expert labels (a mean F1 across the budget);
    * ``labels_to_target_mean`` / ``usd_to_target_mean`` -- expert sentences / dollars added until
      F1 first reaches ``target_f1`` (over the seeds that reach it; ``seeds_reaching_target`` says
      how many);
    * ``wins`` / ``losses`` / ``ties`` -- seed x budget pairs where it beats / trails / equals the
      ``baseline`` with the same seed at the same number of added labels, and ``mean_difference``.
    Pairs are (seed, budget) points both runs reached; the shared start (0 added) is left out.
    ``baseline`` None (one loop that people labelled: no random twin): no pairs, wins and losses 0.
    """
    column = f"{split}_f1"
    if baseline is not None and baseline not in set(history["strategy"]):
        raise ValueError(f"the baseline strategy {baseline!r} was not run: add it to active_learning.strategies")
    base = history[history["strategy"] == baseline].set_index(["seed", "added"])[column]  # empty without a baseline
    rows = []
    for strategy, runs in history.groupby("strategy", sort=False):
        per_seed = [
            (seed, _area(r, column), *_first_reaching(r, column, target_f1)) for seed, r in runs.groupby("seed")
        ]
        areas = np.array([a for _, a, _, _ in per_seed])
        labels = np.array([n for _, _, n, _ in per_seed])
        dollars = np.array([d for _, _, _, d in per_seed])
        paired = runs.set_index(["seed", "added"])[column].to_frame("f1").join(base.rename("baseline"), how="inner")
        paired = paired[paired.index.get_level_values("added") > 0]  # the shared start is no comparison
        difference = paired["f1"] - paired["baseline"]
        final = runs[runs["added"] == runs.groupby("seed")["added"].transform("max")][column]
        rows.append(
            {
                "strategy": strategy,
                "seeds": runs["seed"].nunique(),
                "target_f1": target_f1,
                "final_f1_mean": final.mean(),
                "final_f1_std": final.std(ddof=1) if len(final) > 1 else 0.0,
                "area_mean": areas.mean(),
                "area_std": areas.std(ddof=1) if len(areas) > 1 else 0.0,
                "labels_to_target_mean": np.nanmean(labels) if (~np.isnan(labels)).any() else float("nan"),
                "usd_to_target_mean": np.nanmean(dollars) if (~np.isnan(dollars)).any() else float("nan"),
                "seeds_reaching_target": int((~np.isnan(labels)).sum()),
                "wins": int((difference > 0).sum()),
                "losses": int((difference < 0).sum()),
                "ties": int((difference == 0).sum()),
                "mean_difference": float(difference.mean()) if len(difference) else float("nan"),
            }
        )
    return pd.DataFrame(rows)
