"""The label-quality map: at what LLM label quality do LLM labels start to pay?

The study's routes are measured for the labellers it has (label F1 0.35 and 0.46). Here the same
routes run on labels of chosen quality, made by :mod:`llm_ner.llm.simulated` from the pool's gold
with the real labeller's errors scaled to each target label F1 (a *level*), and on the real labels
themselves (level ``real``). Per level, under the study's one protocol, through the grid engine:

* ``llm_only`` -- the pool's labels alone (no gold);
* ``regimen_D`` -- Huang's LLM then gold: the pool's labels, then ``gold_sentences`` gold sentences
  from outside the pool, continuing the same student;
* ``blending_<name>`` -- the configured blending schedule over the same two sets;
* ``correct_<strategy>`` -- an expert budget (a share of the pool) re-labels the pool sentences the
  strategy picks (``random``, ``label_issues``: out-of-fold label quality on that level's labels);
  one expert subset per repeat (the sweep's folds).

and, once (it reads no LLM label), ``all_expert``: gold sentences alone, from where the LLM routes
with as much gold get theirs -- as many random pool sentences as each budget buys, and regimen D's
own ``gold_sentences`` (the same sentences) -- so that equal gold costs equal expert dollars. Every
route is repeated (``seeds``; the correct sweep's folds).

:func:`crossover` answers the question per all-expert budget: the lowest label F1 from which, at
every level above, the best LLM route costing no more expert dollars (its gold tokens at the cost
model's price; LLM labels priced at $0 here) beats all-expert -- or none ("never").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt

from .grid import Cell, summarise
from .llm.simulated import ErrorProfile, calibrate_scale
from .metrics import micro_span_f1
from .mixed import SweepSettings, blending_designs, budget_sweep_cells, expert_count, out_of_fold_label_quality
from .model import LabelledSentence, labelled_sentences
from .model.evaluation import micro_rows
from .sampling import derive_seed, seeded_sample
from .students import Protocol, Student, StudentSetup
from .typed import Settings

REAL = "real"  # the level of the pool's own (real) LLM labels
CROSSOVER_COLUMNS = [
    "gold_sentences",
    "expert_usd",
    "all_expert_f1",
    "crossover_label_f1",
    "best_route_at_top",
    "best_f1_at_top",
    "levels",
]


class LabelQualityParams(Settings):
    """``label_quality`` in parameters.yml (see the module docstring)."""

    profile_from: str | None = None  # a real labeller's CoNLL labels of train sentences; null: the run's llm_labels
    levels: tuple[Annotated[float, Field(ge=0, le=1)], ...] = (0.45, 0.65, 0.85)  # target label F1s
    include_real: bool = True  # the pool's real LLM labels as one more level
    pool_size: PositiveInt | None = None  # a seeded sample of llm_labels (null: all of them)
    gold_sentences: PositiveInt = 100  # regimen D's and blending's gold, from outside the pool
    budgets: tuple[Annotated[float, Field(gt=0, le=1)], ...] = (0.05, 0.10, 0.20)  # expert shares of the pool
    strategies: tuple[Literal["random", "label_issues"], ...] = ("random", "label_issues")  # who the expert corrects
    blending: dict[str, dict] = Field(default_factory=lambda: {"sigmoid_k4": {"schedule": "sigmoid", "k": 4}})
    seeds: tuple[NonNegativeInt, ...] = (1, 2, 3)
    label_quality_folds: PositiveInt = 3  # out-of-fold students per level for label_issues
    seed: NonNegativeInt = 24  # the simulation's draws, the pool sample, the gold set and the expert subsets
    marks: dict[str, float] = Field(default_factory=dict)  # other labellers' label F1, marked on the map


def map_pool(llm_labels: pd.DataFrame, params: LabelQualityParams) -> pd.DataFrame:
    """The sentences every level labels: ``llm_labels`` (gold and real LLM tags), or a seeded sample."""
    pool = llm_labels if params.pool_size is None else seeded_sample(llm_labels, params.pool_size, params.seed)
    return pool[["sentence_id", "tokens", "gold_tags", "llm_tags"]].reset_index(drop=True)


def profiled_labels(real: pd.DataFrame, pool: pd.DataFrame) -> pd.DataFrame:
    """The real labels the error profile is measured on: those of sentences outside the pool, as in
    the simulator's validation (benchmarks/simulated_labeller.py), so that no level replays the
    pool's own real errors; all of them where the pool is every labelled sentence."""
    outside = real[~real["sentence_id"].isin(pool["sentence_id"])]
    return outside if len(outside) else real


@dataclass(frozen=True)
class Levels:
    """Per level, the pool with that level's LLM tags; and a table of the levels (``level``,
    ``target_label_f1``, the ``scale`` that reaches it on this pool, the ``label_f1`` reached)."""

    pools: dict[str, pd.DataFrame]
    table: pd.DataFrame

    def label_f1(self, level: str) -> float:
        return float(self.table.set_index("level").at[level, "label_f1"])


def simulated_pools(pool: pd.DataFrame, profile: ErrorProfile, params: LabelQualityParams) -> Levels:
    """The pool at every level of ``params`` (and, with ``include_real``, as the real labeller left it)."""
    tokens, gold = [list(t) for t in pool["tokens"]], [list(t) for t in pool["gold_tags"]]
    pools, rows = {}, []
    if params.include_real:
        pools[REAL] = pool
        rows.append(
            {
                "level": REAL,
                "target_label_f1": np.nan,
                "scale": np.nan,
                "label_f1": micro_span_f1(gold, [list(t) for t in pool["llm_tags"]]),
            }
        )
    for target in params.levels:
        calibration = calibrate_scale(tokens, gold, profile, target, params.seed)
        name = f"{target:.2f}"
        pools[name] = pool.assign(llm_tags=calibration.labels)
        rows.append(
            {"level": name, "target_label_f1": target, "scale": calibration.scale, "label_f1": calibration.label_f1}
        )
    return Levels(pools, pd.DataFrame(rows))


def with_label_quality(levels: Levels, params: LabelQualityParams, setup: StudentSetup) -> Levels:
    """Each level's pool with its out-of-fold ``label_quality`` (what ``label_issues`` ranks by), when asked."""
    if "label_issues" not in params.strategies:
        return levels
    pools = {
        level: pool.assign(
            label_quality=pool["sentence_id"].map(
                out_of_fold_label_quality(pool, params.label_quality_folds, params.seed, setup.protocol, setup.grid)
            )
        )
        for level, pool in levels.pools.items()
    }
    return dataclasses.replace(levels, pools=pools)


def gold_candidates(train: pd.DataFrame, pool: pd.DataFrame, params: LabelQualityParams) -> pd.DataFrame:
    """The gold sentences outside the pool that regimen D and blending add (``gold_sentences``)."""
    gold = seeded_sample(train, params.gold_sentences, derive_seed(params.seed, "gold"), exclude=pool)
    if len(gold) < params.gold_sentences:
        raise ValueError(
            f"label_quality.gold_sentences is {params.gold_sentences} but only {len(gold)} train "
            f"sentences lie outside the pool"
        )
    return gold[["sentence_id", "tokens", "ner_tags"]].reset_index(drop=True)


def _tokens(sentences) -> int:
    return int(sum(len(s.tokens) for s in sentences))


def _cell_ids(level: str, label_f1: float, route: str, gold_sentences: int, repeat: int) -> dict:
    return {
        "level": level,
        "label_f1": label_f1,
        "route": route,
        "gold_sentences": gold_sentences,
        "repeat": repeat,
    }


def _level_cell(levels: Levels, level: str, route: str, gold_sentences: int, repeat: int, job: Student) -> Cell:
    """A student of one level's route, its ids carrying the label F1 the level reached."""
    return Cell(_cell_ids(level, round(levels.label_f1(level), 4), route, gold_sentences, repeat), job)


def _all_expert_cells(
    levels: Levels, gold: pd.DataFrame, params: LabelQualityParams, protocol: Protocol, evaluation: dict
) -> list[Cell]:
    """The ``all_expert`` students: gold alone, per gold budget and repeat."""
    # gold alone, drawn where the LLM routes with that much gold get theirs -- random pool sentences
    # for each budget (what the expert would re-label), regimen D's own gold set for its count -- so
    # equal gold costs equal dollars
    pool = next(iter(levels.pools.values())).rename(columns={"gold_tags": "ner_tags"})
    sources = {expert_count(budget, len(pool)): pool for budget in params.budgets} | {len(gold): gold}
    cells = []
    for count, source in sorted(sources.items(), key=lambda item: item[0]):
        for repeat, seed in enumerate(params.seeds):
            chosen = labelled_sentences(seeded_sample(source, count, derive_seed(params.seed, "all_expert", seed)))
            job = Student(protocol, (chosen,), seed, evaluation, info={"gold_tokens": _tokens(chosen)})
            cells.append(Cell(_cell_ids("gold", 1.0, "all_expert", count, repeat), job))
    return cells


def _llm_label_cells(
    levels: Levels,
    level: str,
    pool: pd.DataFrame,
    gold_set: list[LabelledSentence],
    params: LabelQualityParams,
    protocol: Protocol,
    evaluation: dict,
) -> list[Cell]:
    """One level's students on its LLM labels: ``llm_only``, ``regimen_D`` and every ``blending_<name>``."""
    llm_set = labelled_sentences(pool, "llm_tags")
    info = {"gold_tokens": _tokens(gold_set)}
    blends = blending_designs(llm_set, gold_set, params.blending, protocol.trainer.epochs)
    cells = []
    for repeat, seed in enumerate(params.seeds):
        llm_only = Student(protocol, (llm_set,), seed, evaluation, info={"gold_tokens": 0})
        cells.append(_level_cell(levels, level, "llm_only", 0, repeat, llm_only))
        regimen_d = Student(protocol, (llm_set, gold_set), seed, evaluation, info=info)
        cells.append(_level_cell(levels, level, "regimen_D", len(gold_set), repeat, regimen_d))
        for name, design in blends.items():
            blended = Student(protocol, design(seed), seed, evaluation, info=info)
            cells.append(_level_cell(levels, level, f"blending_{name}", len(gold_set), repeat, blended))
    return cells


def _correction_cells(
    levels: Levels, level: str, pool: pd.DataFrame, params: LabelQualityParams, protocol: Protocol, evaluation: dict
) -> list[Cell]:
    """One level's ``correct_<strategy>`` students: an expert budget re-labels the pool sentences the
    strategy picks, one expert subset per repeat (the sweep's folds)."""
    sweep = SweepSettings(
        "correct",
        tuple(params.budgets),
        tuple(params.strategies),
        len(params.seeds),
        derive_seed(params.seed, "expert"),
        "from_scratch",
    )
    cells = []
    for cell in budget_sweep_cells(pool, pool.head(0), evaluation, sweep, protocol):
        student: Student = cell.job
        job = dataclasses.replace(student, info={"gold_tokens": student.info["expert_tokens"]})
        route = f"correct_{cell.ids['strategy']}"
        cells.append(_level_cell(levels, level, route, student.info["expert_sentences"], cell.ids["fold"], job))
    return cells


def map_cells(levels: Levels, gold: pd.DataFrame, params: LabelQualityParams, setup: StudentSetup) -> list[Cell]:
    """Every student of the map (ids ``level``, ``label_f1``, ``route``, ``gold_sentences``, ``repeat``)."""
    protocol, evaluation = setup.protocol, {"test": setup.evaluation_sets["test"]}  # the map reads test only
    gold_set = labelled_sentences(gold)
    # all-expert first (cheap, and every comparison needs it)
    cells = _all_expert_cells(levels, gold, params, protocol, evaluation)
    for level, pool in levels.pools.items():
        cells += _llm_label_cells(levels, level, pool, gold_set, params, protocol, evaluation)
        cells += _correction_cells(levels, level, pool, params, protocol, evaluation)
    return cells


def summarise_map(runs: pd.DataFrame, expert_usd_per_token: float) -> pd.DataFrame:
    """Test micro F1 mean ± std over repeats per level x route x gold budget, with the expert dollars."""
    summary = summarise(
        micro_rows(runs, "test"),
        ["level", "label_f1", "route", "gold_sentences"],
        "repeat",
        ["f1"],
        constants={"gold_tokens": "mean"},
    )
    summary["expert_usd"] = summary["gold_tokens"] * expert_usd_per_token
    return summary


def crossover(summary: pd.DataFrame) -> pd.DataFrame:
    """Per all-expert gold budget: its F1, and the lowest level label F1 from which the best LLM route
    costing no more expert dollars beats it at every level above (NaN: never, on the levels run)."""
    expert = summary[summary["route"] == "all_expert"].set_index("gold_sentences")[["expert_usd", "f1_mean"]]
    llm = summary[summary["route"] != "all_expert"]
    rows = []
    for gold_sentences, (expert_usd, expert_f1) in expert.sort_index().iterrows():
        affordable = llm[llm["expert_usd"] <= expert_usd + 1e-9]
        best = affordable.sort_values("f1_mean", ascending=False).groupby("level", sort=False).head(1)
        best = best.sort_values("label_f1")
        wins = (best["f1_mean"] > expert_f1).to_numpy()
        # the lowest level from which every level above wins too
        first = next((i for i in range(len(wins)) if wins[i:].all()), None) if len(wins) else None
        top = best.iloc[-1] if len(best) else None
        rows.append(
            {
                "gold_sentences": gold_sentences,
                "expert_usd": expert_usd,
                "all_expert_f1": expert_f1,
                "crossover_label_f1": float(best["label_f1"].iloc[first]) if first is not None else np.nan,
                "best_route_at_top": top["route"] if top is not None else None,
                "best_f1_at_top": float(top["f1_mean"]) if top is not None else np.nan,
                "levels": len(best),
            }
        )
    return pd.DataFrame(rows, columns=CROSSOVER_COLUMNS)


def run_map(levels: Levels, gold: pd.DataFrame, params: LabelQualityParams, setup: StudentSetup) -> pd.DataFrame:
    """Every student of the map, one grid (``label_quality_map``): a row per cell x split x entity type."""
    return setup.grid.table(
        "label_quality_map", map_cells(with_label_quality(levels, params, setup), gold, params, setup)
    )
