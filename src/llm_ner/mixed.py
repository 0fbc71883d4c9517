"""Mixed annotation: an expert budget on top of LLM labels -- who the expert labels, and the
training set that results (seed S0, stage 3; LLM-confidence routing, CoAnnotating-style, for NER).

Two settings (``mode``):

* ``add`` (S0): the expert labels sentences from *outside* the LLM-labelled pool; they join the
  pool with gold tags;
* ``correct`` (the practitioner's): the expert re-labels chosen *pool* sentences; their gold tags
  replace the LLM's.

Who the expert labels is chosen by name (:data:`SELECTIONS`):

* ``random`` -- S0's choice, the baseline;
* ``llm_low_confidence`` -- lowest LLM sentence confidence first (``llm_annotation.confidence``);
* ``label_issues`` -- the sentences whose LLM labels an out-of-fold student finds least plausible
  (cleanlab's token-classification label quality score, lowest first).

The last two read LLM labels of the candidates, so they need ``mode: correct``. Budgets are shares
of the pool. In ``add`` mode fold ``i`` of ``k`` draws its expert sentences from its own ``i``-th
part of the candidates (S0's k-fold), so every fold uses a different subset. In ``correct`` mode the
candidates are the pool itself, and parts would cap a budget at 1/k of it (at S0's k = 5 a 20 %
budget would correct its whole part, whatever the strategy): each fold chooses from the whole pool,
with its own seed.

Huang et al.'s comparisons train a student per design x LR schedule x seed (:func:`repeated_runs`):
the training regimens of :data:`REGIMENS` (which data, in which order) and the blending schedules
of :mod:`llm_ner.blending` (how the LLM and gold shares change epoch by epoch).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .blending import schedule_weights
from .grid import Cell, Grid, summarise
from .model import LabelledSentence, Tagger, labelled_sentences
from .model.evaluation import micro_rows
from .model.training import TrainingData
from .sampling import derive_seed, k_fold_parts, lowest_first, seeded_sample
from .students import Blend, Protocol, Student, sentences_by_source

logger = logging.getLogger(__name__)

MODES = ("add", "correct")
STARTS = ("from_scratch", "fine_tune_llm_pure")
# who the expert is: CoNLL's gold tags revealed (every sweep), or people in Label Studio (llm_ner.label_studio)
EXPERT_SOURCES = ("simulated", "label_studio")


def _by_confidence(candidates: pd.DataFrame, count: int, seed: int, column: str) -> pd.DataFrame:
    if column not in candidates or candidates[column].isna().all():
        raise ValueError(f"expert selection needs `{column}` on the candidates")
    return candidates.iloc[lowest_first(candidates[column], seed)[:count]].sort_values("sentence_id")


def random_selection(candidates: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    return seeded_sample(candidates, count, seed)


def llm_low_confidence(candidates: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """Least confident LLM labels first (ties in seeded order); sentences without a score first."""
    return _by_confidence(candidates, count, seed, "sentence_confidence")


def label_issues(candidates: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """Lowest label quality (see :func:`out_of_fold_label_quality`) first."""
    return _by_confidence(candidates, count, seed, "label_quality")


@dataclass(frozen=True)
class Selection:
    """A way to choose who the expert labels -- ``choose(candidates, count, seed)`` -- and the pool
    column it ranks by, least sure first (None: it ranks nothing). One that ranks reads the LLM's
    labels or their scores, so it needs pool sentences (mode ``correct``)."""

    choose: Callable[[pd.DataFrame, int, int], pd.DataFrame]
    ranked_by: str | None = None

    def __call__(self, candidates: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
        return self.choose(candidates, count, seed)


LABEL_QUALITY = "label_quality"  # out_of_fold_label_quality's column: computed only when a selection ranks by it
SELECTIONS: dict[str, Selection] = {
    "random": Selection(random_selection),
    "llm_low_confidence": Selection(llm_low_confidence, ranked_by="sentence_confidence"),
    "label_issues": Selection(label_issues, ranked_by=LABEL_QUALITY),
}
NEEDS_LLM_LABELS = {name for name, selection in SELECTIONS.items() if selection.ranked_by}


def ranks_by_label_quality(strategies: Sequence[str]) -> bool:
    return any(SELECTIONS[s].ranked_by == LABEL_QUALITY for s in strategies if s in SELECTIONS)


def expert_count(budget: float, pool_size: int) -> int:
    """Sentences a budget (a share of the pool, as S0 counts it) buys."""
    if not 0 <= budget <= 1:
        raise ValueError(f"budgets are shares of the pool in [0, 1], got {budget!r}")
    return round(budget * pool_size)


def check_sweep(mode: str, strategies: Sequence[str], start: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mixed_annotation mode must be one of {list(MODES)}, got {mode!r}")
    unknown = [s for s in strategies if s not in SELECTIONS]
    if unknown:
        raise ValueError(f"mixed_annotation strategies must be among {sorted(SELECTIONS)}, got {unknown}")
    check_rankable(mode, strategies)
    if start not in STARTS:
        raise ValueError(f"mixed_annotation start must be one of {list(STARTS)}, got {start!r}")


def check_rankable(mode: str, strategies: Sequence[str]) -> None:
    """Strategies that rank LLM labels need pool sentences (mode ``correct``)."""
    if mode == "add" and NEEDS_LLM_LABELS & set(strategies):
        raise ValueError(
            f"strategies {sorted(NEEDS_LLM_LABELS & set(strategies))} rank LLM labels, which sentences "
            f"from outside the pool do not have: use mode 'correct'"
        )


def llm_sentence_weights(pool: pd.DataFrame, llm_weight: float | str) -> pd.Series:
    """Loss weight of each pool sentence's LLM tags: one number for all (1.0 = as much as gold),
    or ``confidence`` -- the LLM's own sentence confidence, so doubtful labels teach less."""
    if llm_weight == "confidence":
        confidence = pool.get("sentence_confidence")
        if confidence is None or confidence.isna().any():
            raise ValueError(
                "mixed_annotation.llm_weight 'confidence' needs a sentence_confidence for every pool "
                "sentence: set llm_annotation.confidence"
            )
        return confidence.astype(float)
    if isinstance(llm_weight, bool) or not isinstance(llm_weight, (int, float)) or not llm_weight >= 0:
        raise ValueError(f"mixed_annotation.llm_weight must be a number >= 0 or 'confidence', got {llm_weight!r}")
    return pd.Series(float(llm_weight), index=pool.index)


def reference_f1(references: pd.DataFrame, student: str, split: str = "test") -> float | None:
    """The micro F1 of a reference student (``llm_only`` | ``gold_only``, the ends of every budget
    curve) on ``split``; None when the table has no such row."""
    rows = micro_rows(references, split)
    rows = rows[rows["student"] == student]
    return None if rows.empty else float(rows["f1"].iloc[0])


def gold_rows(expert: pd.DataFrame) -> pd.DataFrame:
    """Expert-labelled sentences as training rows: their gold tags, ``source`` gold, weight 1."""
    return (
        expert[["sentence_id", "tokens", "gold_tags"]]
        .rename(columns={"gold_tags": "ner_tags"})
        .assign(source="gold", weight=1.0)
    )


def mixed_training_table(
    pool: pd.DataFrame, expert: pd.DataFrame, mode: str, llm_weight: float | str = 1.0
) -> pd.DataFrame:
    """The pool with LLM tags, plus (``add``) or instead of them (``correct``) the expert's gold tags:
    ``sentence_id``, ``tokens``, ``ner_tags``, ``source`` (``llm`` | ``gold``) and the loss ``weight``
    (gold 1.0, LLM tags :func:`llm_sentence_weights`) per sentence."""
    llm = (
        pool[["sentence_id", "tokens", "llm_tags"]]
        .rename(columns={"llm_tags": "ner_tags"})
        .assign(source="llm", weight=llm_sentence_weights(pool, llm_weight))
    )
    gold = gold_rows(expert)
    if mode == "correct":
        llm = llm[~llm["sentence_id"].isin(gold["sentence_id"])]
    return pd.concat([llm, gold], ignore_index=True).sort_values("sentence_id", kind="stable").reset_index(drop=True)


def mixed_training_set(
    pool: pd.DataFrame, expert: pd.DataFrame, mode: str, llm_weight: float | str = 1.0
) -> list[LabelledSentence]:
    return labelled_sentences(mixed_training_table(pool, expert, mode, llm_weight))


def out_of_fold_label_quality(
    pool: pd.DataFrame, k: int, seed: int, protocol: Protocol, grid: Grid = Grid()
) -> pd.Series:
    """Per pool sentence, how plausible its LLM labels look to a student that never trained on it.

    ``k`` students (grid cells) each train on the LLM labels of all folds but one and predict the
    held-out fold; cleanlab's ``get_label_quality_scores`` turns those out-of-fold probabilities
    and the LLM tags into one score per sentence (low = likely label issues). No gold is read.
    """
    from cleanlab.token_classification.rank import get_label_quality_scores

    parts = k_fold_parts(pool, k, seed)
    cells = []
    for fold, held_out in enumerate(parts):
        rest = pd.concat([p for j, p in enumerate(parts) if j != fold])
        student = Student(
            protocol,
            (labelled_sentences(rest, "llm_tags"),),
            derive_seed(seed, "fold", fold),
            predict=tuple(tuple(t) for t in held_out["tokens"]),
        )
        cells.append(Cell({"fold": fold}, student))
    label_to_id = {tag: i for i, tag in enumerate(protocol.labels)}
    scores: dict[int, float] = {}
    for held_out, output in zip(parts, grid.run("label_quality", cells)):
        label_ids = [[label_to_id[tag] for tag in tags] for tags in held_out["llm_tags"]]
        quality, _ = get_label_quality_scores(label_ids, output.artifacts["probabilities"])
        scores.update(zip(held_out["sentence_id"], quality))
    return pd.Series(scores, name="label_quality")


@dataclass(frozen=True)
class SweepSettings:
    mode: str
    budgets: tuple[float, ...]
    strategies: tuple[str, ...]
    k: int
    seed: int
    start: str
    llm_weight: float | str = 1.0
    llm_pure: Tagger | None = None  # where start 'fine_tune_llm_pure' starts: model_llm_pure


def budget_sweep_cells(
    pool: pd.DataFrame,
    outside: pd.DataFrame,
    evaluation_sets: dict[str, list[LabelledSentence]],
    settings: SweepSettings,
    protocol: Protocol,
) -> list[Cell]:
    """A student for every strategy x budget x fold (ids ``mode``, ``strategy``, ``budget``, ``fold``).

    ``pool`` holds the LLM-labelled sentences (``llm_tags``, ``gold_tags`` and, for the confidence
    strategies, ``sentence_confidence`` / ``label_quality``); ``outside`` the gold-labelled
    candidates for ``mode: add``. Students start anew or from a copy of ``settings.llm_pure`` (S0), and
    train the protocol's fixed epochs: no gold beyond the budget. Fold ``i`` is seeded
    ``derive_seed(seed, "fold", i)`` and chooses from its own part of ``outside`` (``add``) or from
    the whole pool (``correct``).
    """
    check_sweep(settings.mode, settings.strategies, settings.start)
    llm_pure = settings.llm_pure
    if settings.start == "fine_tune_llm_pure" and llm_pure is None:
        raise ValueError("start 'fine_tune_llm_pure' needs model_llm_pure")
    if settings.mode == "correct":  # the whole pool for every fold (the module's docstring says why)
        parts = [pool] * settings.k
    else:
        parts = k_fold_parts(outside, settings.k, settings.seed)
    cells = []
    for strategy in settings.strategies:
        for budget in settings.budgets:
            count = expert_count(budget, len(pool))
            for fold, part in enumerate(parts):
                if count > len(part):
                    raise ValueError(
                        f"budget {budget} buys {count} sentences but fold {fold} has {len(part)} candidates; "
                        f"lower the budgets or k"
                    )
                seed = derive_seed(settings.seed, "fold", fold)
                expert = SELECTIONS[strategy](part, count, seed)
                info = {"expert_sentences": len(expert), "expert_tokens": int(sum(len(t) for t in expert["tokens"]))}
                student = Student(
                    protocol,
                    (mixed_training_set(pool, expert, settings.mode, settings.llm_weight),),
                    seed,
                    evaluation_sets,
                    start=llm_pure if settings.start == "fine_tune_llm_pure" else None,
                    info=info,
                )
                cells.append(
                    Cell({"mode": settings.mode, "strategy": strategy, "budget": budget, "fold": fold}, student)
                )
    return cells


def budget_sweep(
    pool: pd.DataFrame,
    outside: pd.DataFrame,
    evaluation_sets: dict[str, list[LabelledSentence]],
    settings: SweepSettings,
    protocol: Protocol,
    grid: Grid = Grid(),
) -> pd.DataFrame:
    """Train and score every cell of :func:`budget_sweep_cells`; one row per split and entity type."""
    return grid.table(
        f"budget_sweep_{settings.mode}", budget_sweep_cells(pool, outside, evaluation_sets, settings, protocol)
    )


def summarise_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds per mode, strategy, budget, split and entity type."""
    return summarise(
        runs,
        ["mode", "strategy", "budget", "split", "entity_type"],
        "fold",
        ["f1", "token_accuracy", "loss"],
        constants={"expert_sentences": "mean", "expert_tokens": "mean"},
    )


@dataclass(frozen=True)
class AnnotatedPool:
    """The pool with the sentences people corrected in Label Studio in place of their LLM tags
    (``mode: correct``) -- and, beside it, the same sentences with CoNLL's gold tags (the simulated
    expert of every sweep), keyed by expert source (:data:`EXPERT_SOURCES`)."""

    training_sets: Mapping[str, tuple[LabelledSentence, ...]]
    expert_sentences: int
    expert_tokens: int


def annotated_pool(pool: pd.DataFrame, annotated: pd.DataFrame, llm_weight: float | str = 1.0) -> AnnotatedPool:
    """``annotated``: ``sentence_id``, ``expert_tags`` of the pool sentences people labelled."""
    chosen = pool[pool["sentence_id"].isin(annotated["sentence_id"])]
    if len(chosen) != len(annotated):
        raise ValueError(f"{len(annotated) - len(chosen)} annotated sentences are not in the pool")
    people = chosen.drop(columns="gold_tags").merge(annotated[["sentence_id", "expert_tags"]], on="sentence_id")
    experts = {"label_studio": people.rename(columns={"expert_tags": "gold_tags"}), "simulated": chosen}
    return AnnotatedPool(
        {source: mixed_training_set(pool, expert, "correct", llm_weight) for source, expert in experts.items()},
        len(chosen),
        int(sum(len(t) for t in chosen["tokens"])),
    )


def annotated_pool_cells(
    pool: AnnotatedPool,
    seeds: Sequence[int],
    protocol: Protocol,
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
) -> list[Cell]:
    """A student per expert source and seed (ids ``expert_source``, ``seed``), so the table shows
    what real annotators bought against what the simulation assumes."""
    info = {"expert_sentences": pool.expert_sentences, "expert_tokens": pool.expert_tokens}
    return [
        Cell({"expert_source": source, "seed": seed}, Student(protocol, (sentences,), seed, evaluation_sets, info=info))
        for source, sentences in pool.training_sets.items()
        for seed in seeds
    ]


def summarise_annotated(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per expert source, split and entity type."""
    return summarise(
        runs,
        ["expert_source", "split", "entity_type"],
        "seed",
        ["f1", "token_accuracy", "loss"],
        constants={"expert_sentences": "mean", "expert_tokens": "mean"},
    )


def saturation_budget(summary: pd.DataFrame, strategy: str, delta: float, split: str = "validation") -> float:
    """The smallest budget whose mean micro F1 is within ``delta`` of the best budget's (S0's choice)."""
    rows = micro_rows(summary, split)
    rows = rows[rows["strategy"] == strategy]
    if rows.empty:
        raise ValueError(f"no {split} results for strategy {strategy!r} to choose a budget from")
    best = rows["f1_mean"].max()
    return float(rows[rows["f1_mean"] >= best - delta]["budget"].min())


Design = Callable[[int], tuple[TrainingData, ...]]  # seed -> the student's training phases


def repeated_runs_cells(
    designs: Mapping[str, Design],
    lr_schedules: Sequence[str],
    seeds: Sequence[int],
    protocol: Protocol,
    evaluation_sets: dict[str, list[LabelledSentence]],
) -> list[Cell]:
    """A student per design x learning-rate schedule x seed (ids ``design``, ``lr_schedule``,
    ``seed``), scored on every evaluation set.

    A design maps a seed to its training phases: each phase is one :func:`fit` of the protocol's
    epochs on a sentence list or a :class:`~llm_ner.students.Blend`, continuing the same
    student. Rows carry the gold and LLM-labelled sentences the student saw (distinct sentences,
    over all phases and epochs).
    """
    cells = []
    for name, design in designs.items():
        for lr_schedule in lr_schedules:
            scheduled = protocol.with_schedule(lr_schedule)
            for seed in seeds:
                phases = design(seed)
                used = sentences_by_source(phases, scheduled.trainer.epochs)
                info = {"llm_sentences": used["llm"], "gold_sentences": used["gold"]}
                cells.append(
                    Cell(
                        {"design": name, "lr_schedule": lr_schedule, "seed": seed},
                        Student(scheduled, phases, seed, evaluation_sets, info=info),
                    )
                )
    return cells


def repeated_runs(
    designs: Mapping[str, Design],
    lr_schedules: Sequence[str],
    seeds: Sequence[int],
    protocol: Protocol,
    evaluation_sets: dict[str, list[LabelledSentence]],
    grid: Grid = Grid(),
    name: str = "repeated_runs",
) -> pd.DataFrame:
    return grid.table(name, repeated_runs_cells(designs, lr_schedules, seeds, protocol, evaluation_sets))


def _blend(
    llm_set: tuple[LabelledSentence, ...],
    gold_set: tuple[LabelledSentence, ...],
    weights: tuple[tuple[float, float], ...],
    seed: int,
) -> tuple[TrainingData, ...]:
    return (Blend(llm_set, gold_set, weights, seed),)


def blending_designs(
    llm_set: list[LabelledSentence], gold_set: list[LabelledSentence], schedules: dict[str, dict], epochs: int
) -> dict[str, Design]:
    """Huang's phase 3: one phase whose every epoch trains on that epoch's blend of ``llm_set`` and
    ``gold_set`` (:class:`~llm_ner.students.Blend`).

    ``schedules`` maps a run name to ``{schedule: <SCHEDULES key>, **its parameters}`` -- e.g.
    ``sigmoid_k8: {schedule: sigmoid, k: 8}``.
    """
    designs = {}
    for name, spec in schedules.items():
        spec = dict(spec)
        weights = tuple(schedule_weights(spec.pop("schedule"), epochs, **spec))
        designs[name] = functools.partial(_blend, tuple(llm_set), tuple(gold_set), weights)
    return designs


# Huang's phase 2 (Table 2): which data, in which order. Each phase is a list of set names.
REGIMENS: dict[str, list[list[str]]] = {
    "A_gold": [["gold"]],
    "B_llm": [["llm"]],
    "C_llm_extra": [["llm", "extra"]],
    "D_llm_then_gold": [["llm"], ["gold"]],
    "E_llm_extra_then_gold": [["llm", "extra"], ["gold"]],
}


def _regimen(phases: tuple[tuple[LabelledSentence, ...], ...], seed: int) -> tuple[TrainingData, ...]:
    return phases  # the same data for every seed


def regimen_designs(sets: dict[str, list[LabelledSentence]], names: Sequence[str]) -> dict[str, Design]:
    """The named :data:`REGIMENS` over ``sets`` (``gold``, ``llm``, ``extra``): each phase trains on
    the union of its sets for the protocol's epochs; ``... then gold`` continues the same student."""
    unknown = [name for name in names if name not in REGIMENS]
    if unknown:
        raise ValueError(f"mixed_annotation.regimens.names must be among {list(REGIMENS)}, got {unknown}")
    return {
        name: functools.partial(
            _regimen, tuple(tuple(s for part in phase for s in sets[part]) for phase in REGIMENS[name])
        )
        for name in names
    }


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of P/R/F1 over seeds per design x LR schedule, split and entity
    type (micro and macro rows included): the shape of Huang's Tables 2 and 3."""
    return summarise(
        runs,
        ["design", "lr_schedule", "split", "entity_type"],
        "seed",
        ["precision", "recall", "f1"],
        constants={"llm_sentences": "max", "gold_sentences": "max"},
    )
