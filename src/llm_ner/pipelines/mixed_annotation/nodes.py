"""Thin nodes for the `mixed_annotation` pipeline; the work is done in :mod:`llm_ner.mixed`."""

from __future__ import annotations

import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")  # nodes run headless
import matplotlib.pyplot as plt
import pandas as pd

from llm_ner.accounting import CHARGED_PURPOSES
from llm_ner.blending import schedule_weights
from llm_ner.grid import Cell
from llm_ner.llm.external import import_conll_labels
from llm_ner.mixed import (
    SELECTIONS,
    SweepSettings,
    blending_designs,
    budget_sweep,
    expert_count,
    mixed_training_table,
    out_of_fold_label_quality,
    regimen_designs,
    repeated_runs,
    saturation_budget,
    summarise_runs,
    summarise_sweep,
)
from llm_ner.model import Tagger, evaluate_on, labelled_sentences
from llm_ner.parameters import EntityTypes, ExtraParams, MixedAnnotationParams
from llm_ner.sampling import seeded_sample, share_count
from llm_ner.students import Student, StudentParams, StudentSetup, train_student

logger = logging.getLogger(__name__)


def expert_candidates(
    train_sentences: pd.DataFrame, llm_labels: pd.DataFrame, demonstration_pool: pd.DataFrame
) -> pd.DataFrame:
    """Train sentences outside the LLM pool and the demonstrations: what ``mode: add`` buys gold labels for."""
    used = set(llm_labels["sentence_id"]) | set(demonstration_pool["sentence_id"])
    outside = train_sentences[~train_sentences["sentence_id"].isin(used)]
    return (
        outside[["sentence_id", "tokens", "ner_tags"]].rename(columns={"ner_tags": "gold_tags"}).reset_index(drop=True)
    )


def train_llm_pure(llm_labels: pd.DataFrame, params: MixedAnnotationParams, setup: StudentSetup) -> Tagger:
    """S0's ``model_llm_pure``: the student on the pool's LLM tags alone, fixed epochs (no gold at all)."""
    student = Student(setup.protocol, (labelled_sentences(llm_labels, "llm_tags"),), params.seed)
    return train_student(student, setup.grid, "model_llm_pure")[0]


def score_label_quality(llm_labels: pd.DataFrame, params: MixedAnnotationParams, setup: StudentSetup) -> pd.DataFrame:
    """Out-of-fold label quality of every pool sentence, when some sweep routes by ``label_issues``."""
    if not params.routes_by_label_issues:
        return pd.DataFrame({"sentence_id": llm_labels["sentence_id"], "label_quality": float("nan")})
    quality = out_of_fold_label_quality(llm_labels, params.label_quality_folds, params.seed, setup.protocol, setup.grid)
    return quality.rename_axis("sentence_id").reset_index()


def mixing_pool(llm_labels: pd.DataFrame, label_quality: pd.DataFrame) -> pd.DataFrame:
    """The LLM-labelled pool with what the selections rank by: LLM confidence and label quality."""
    return llm_labels.merge(label_quality, on="sentence_id", how="left")


def design_budget_sweep(params: MixedAnnotationParams, model_llm_pure: Tagger, mode: str) -> SweepSettings:
    """The sweep ``mixed_annotation.sweeps.<mode>`` (its namespace): budgets, strategies, folds, and
    where its students start (anew, or from model_llm_pure)."""
    sweep = params.sweeps[mode]
    return SweepSettings(
        mode=sweep.mode,
        budgets=params.budgets,
        strategies=sweep.strategies,
        k=params.k,
        seed=params.seed,
        start=params.start,
        llm_weight=params.llm_weight,
        llm_pure=model_llm_pure if params.start == "fine_tune_llm_pure" else None,
    )


def run_budget_sweep(
    pool: pd.DataFrame, outside: pd.DataFrame, sweep: SweepSettings, setup: StudentSetup
) -> pd.DataFrame:
    """Every budget x strategy x fold of the sweep."""
    return budget_sweep(pool, outside, setup.evaluation_sets, sweep, setup.protocol, setup.grid)


def budget_table(runs: pd.DataFrame, llm_gold_usage: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over folds, with every gold sentence the result consumed: the expert budget plus
    the labeller's own (its demonstrations and whatever chose it)."""
    summary = summarise_sweep(runs)
    labeller = int(llm_gold_usage.loc[llm_gold_usage["purpose"].isin(CHARGED_PURPOSES), "sentences"].sum())
    summary["labeller_gold_sentences"] = labeller
    summary["total_gold_sentences"] = summary["expert_sentences"] + labeller
    return summary


def reference_students(
    pool: pd.DataFrame, model_llm_pure: Tagger, params: MixedAnnotationParams, setup: StudentSetup
) -> pd.DataFrame:
    """The two ends of every budget curve on the same protocol: LLM-only (model_llm_pure) and
    gold-only (the same student on the pool's gold tags)."""
    gold_only = Cell(
        {"student": "gold_only"},
        Student(setup.protocol, (labelled_sentences(pool, "gold_tags"),), params.seed, setup.evaluation_sets),
    )
    llm_only = evaluate_on(model_llm_pure, setup.evaluation_sets, setup.protocol.trainer).assign(student="llm_only")
    return pd.concat([llm_only, setup.grid.table("reference_students", [gold_only])], ignore_index=True)


def choose_init_budget(
    add_table: pd.DataFrame, correct_table: pd.DataFrame, params: MixedAnnotationParams
) -> dict[str, Any]:
    """The budget model_init is trained at -- fixed, or S0's saturation point on validation F1 of the
    configured mode and strategy -- and the seed and LLM weight it is trained with."""
    init = params.init
    table = {"add": add_table, "correct": correct_table}[init.mode]
    budget = init.budget
    if budget == "saturation":
        budget = saturation_budget(table, init.strategy, params.saturation_delta)
        reason = f"smallest budget within {params.saturation_delta} validation F1 of the best"
    else:
        reason = "configured"
    # with how the sweeps mixed and seeded their students: model_init is trained the same way
    return {
        "budget": float(budget),
        "percent": round(100 * float(budget)),
        "strategy": init.strategy,
        "mode": init.mode,
        "chosen_by": reason,
        "seed": params.seed,
        "llm_weight": params.llm_weight,
    }


def train_model_init(
    pool: pd.DataFrame, outside: pd.DataFrame, choice: dict[str, Any], setup: StudentSetup
) -> tuple[Tagger, pd.DataFrame]:
    """``model_init`` -- the student at the chosen budget -- and the set it trained on (``source``
    llm or gold per sentence): active learning continues from both."""
    candidates = pool if choice["mode"] == "correct" else outside
    expert = SELECTIONS[choice["strategy"]](candidates, expert_count(choice["budget"], len(pool)), choice["seed"])
    training_table = mixed_training_table(pool, expert, choice["mode"], choice["llm_weight"])
    student = Student(setup.protocol, (labelled_sentences(training_table),), choice["seed"])
    tagger, _ = train_student(student, setup.grid, "model_init")
    logger.info(
        "model_init: %s, %d expert sentences (%s, mode %s)",
        choice["chosen_by"],
        len(expert),
        choice["strategy"],
        choice["mode"],
    )
    return tagger, training_table


def sample_expert_set(outside: pd.DataFrame, params: MixedAnnotationParams) -> pd.DataFrame:
    """The gold-labelled sentences regimens and blending train on beside the LLM pool (Huang: 1,000
    CoNLL sentences): ``expert_set_size`` from outside the pool, seeded."""
    return seeded_sample(outside, params.expert_set_size, params.seed)


def import_regimen_extra(
    train_sentences: pd.DataFrame, params: MixedAnnotationParams, entity_types: EntityTypes
) -> pd.DataFrame:
    """With ``regimens.extra.source: import``: the LLM labels of ``path`` (a CoNLL file) for train
    sentences, in the llm_labels layout; else none (the extra data is split from the pool)."""
    extra = params.regimens.extra
    if extra.source != "import":
        return pd.DataFrame(columns=["sentence_id", "tokens", "llm_tags"])
    imported, _ = import_conll_labels(extra.path, train_sentences, entity_types.schema)
    return imported


def regimen_sets(
    pool: pd.DataFrame, expert_set: pd.DataFrame, imported_extra: pd.DataFrame, extra: ExtraParams, seed: int
) -> dict[str, list]:
    """``gold`` (the expert set), ``llm`` and ``extra`` LLM-labelled sentences for the regimens.

    ``regimens.extra.source``: ``split`` -- a seeded ``share`` of the pool is the extra data and the
    rest the LLM set; ``import`` -- the pool is the LLM set and the extra data the imported labels
    (:func:`import_regimen_extra`) of other train sentences (those in the pool or the expert set are
    left out).
    """
    if extra.source == "split":
        extra_part = seeded_sample(
            pool, share_count(extra.share, len(pool), "mixed_annotation.regimens.extra.share"), seed
        )
        llm_part = pool[~pool["sentence_id"].isin(extra_part["sentence_id"])]
    else:  # import
        used = set(pool["sentence_id"]) | set(expert_set["sentence_id"])
        llm_part, extra_part = pool, imported_extra[~imported_extra["sentence_id"].isin(used)]
    return {
        "gold": labelled_sentences(expert_set, "gold_tags"),
        "llm": labelled_sentences(llm_part, "llm_tags"),
        "extra": labelled_sentences(extra_part, "llm_tags"),
    }


def build_regimen_sets(
    pool: pd.DataFrame, expert_set: pd.DataFrame, imported_extra: pd.DataFrame, params: MixedAnnotationParams
) -> dict[str, list]:
    return regimen_sets(pool, expert_set, imported_extra, params.regimens.extra, params.seed)


def run_regimens(sets: dict[str, list], params: MixedAnnotationParams, setup: StudentSetup) -> pd.DataFrame:
    """Huang's phase 2: gold only, LLM only, LLM + extra, and the two ``... then gold`` regimens."""
    regimens = params.regimens
    return repeated_runs(
        regimen_designs(sets, regimens.names),
        regimens.lr_schedules,
        regimens.seeds,
        setup.protocol,
        setup.evaluation_sets,
        setup.grid,
        "regimens",
    )


def run_blending(
    pool: pd.DataFrame, expert_set: pd.DataFrame, params: MixedAnnotationParams, setup: StudentSetup
) -> pd.DataFrame:
    """Huang's phase 3: the pool's LLM labels and the expert set, blended epoch by epoch."""
    blending, protocol = params.blending, setup.protocol
    designs = blending_designs(
        labelled_sentences(pool, "llm_tags"),
        labelled_sentences(expert_set, "gold_tags"),
        blending.chosen,
        protocol.trainer.epochs,
    )
    return repeated_runs(
        designs, blending.lr_schedules, blending.seeds, protocol, setup.evaluation_sets, setup.grid, "blending"
    )


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    return summarise_runs(runs)


def blending_weights_plot(params: MixedAnnotationParams, student: StudentParams) -> plt.Figure:
    """w_llm(t) of every configured blending schedule, over the protocol's epochs."""
    epochs = student.trainer.epochs
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, spec in params.blending.chosen.items():
        spec = dict(spec)
        weights = schedule_weights(spec.pop("schedule"), epochs, **spec)
        axis.plot(range(epochs), [w_llm for w_llm, _ in weights], marker="o", label=name)
    axis.set_xlabel("epoch (0-based)")
    axis.set_ylabel("w_llm: share of the LLM-labelled set")
    axis.set_ylim(-0.05, 1.05)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    axis.set_title("Blending schedules (Huang et al.)")
    figure.tight_layout()
    return figure
