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
from llm_ner.llm.external import import_conll_labels
from llm_ner.mixed import (
    SELECTIONS, SweepSettings, blending_designs, budget_sweep, expert_count, mixed_training_table,
    out_of_fold_label_quality, regimen_designs, repeated_runs, saturation_budget, summarise_runs, summarise_sweep,
)
from llm_ner.grid import Cell, GridSettings
from llm_ner.sampling import seeded_sample, share_count
from llm_ner.model import Tagger, evaluate_on, labelled_sentences
from llm_ner.model.evaluation import reported_sets
from llm_ner.parameters import EntityTypes, ExtraParams, MixedAnnotationParams
from llm_ner.students import Protocol, Student, StudentParams, train_student
from llm_ner.tags import LabelSchema

logger = logging.getLogger(__name__)


def expert_candidates(train_sentences: pd.DataFrame, llm_labels: pd.DataFrame,
                      demonstration_pool: pd.DataFrame) -> pd.DataFrame:
    """Train sentences outside the LLM pool and the demonstrations: what ``mode: add`` buys gold labels for."""
    used = set(llm_labels["sentence_id"]) | set(demonstration_pool["sentence_id"])
    outside = train_sentences[~train_sentences["sentence_id"].isin(used)]
    return outside[["sentence_id", "tokens", "ner_tags"]].rename(columns={"ner_tags": "gold_tags"}).reset_index(drop=True)


def train_llm_pure(llm_labels: pd.DataFrame, params: MixedAnnotationParams, student: StudentParams, entity_types: EntityTypes) -> Tagger:
    """S0's ``model_llm_pure``: the student on the pool's LLM tags alone, fixed epochs (no gold at all)."""
    return train_student(Student(Protocol.of(student, entity_types.schema), (labelled_sentences(llm_labels, "llm_tags"),),
                                 params.seed))


def score_label_quality(llm_labels: pd.DataFrame, params: MixedAnnotationParams, student: StudentParams, entity_types: EntityTypes,
                        grid: GridSettings) -> pd.DataFrame:
    """Out-of-fold label quality of every pool sentence, when some sweep routes by ``label_issues``."""
    if not params.routes_by_label_issues:
        return pd.DataFrame({"sentence_id": llm_labels["sentence_id"], "label_quality": float("nan")})
    quality = out_of_fold_label_quality(llm_labels, params.label_quality_folds, params.seed,
                                        Protocol.of(student, entity_types.schema), grid.grid())
    return quality.rename_axis("sentence_id").reset_index()


def mixing_pool(llm_labels: pd.DataFrame, label_quality: pd.DataFrame) -> pd.DataFrame:
    """The LLM-labelled pool with what the selections rank by: LLM confidence and label quality."""
    return llm_labels.merge(label_quality, on="sentence_id", how="left")


def run_budget_sweep(pool: pd.DataFrame, outside: pd.DataFrame, evaluation_samples: pd.DataFrame,
                     model_llm_pure: Tagger, params: MixedAnnotationParams, student: StudentParams,
                     entity_types: EntityTypes, grid: GridSettings, mode: str) -> pd.DataFrame:
    """Every budget x strategy x fold of the sweep ``mixed_annotation.sweeps.<mode>`` (its namespace)."""
    sweep = params.sweeps[mode]
    settings = SweepSettings(mode=sweep.mode, budgets=params.budgets, strategies=sweep.strategies, k=params.k,
                             seed=params.seed, start=params.start, llm_weight=params.llm_weight)
    return budget_sweep(pool, outside, reported_sets(evaluation_samples), settings,
                        Protocol.of(student, entity_types.schema), model_llm_pure, grid.grid())


def budget_table(runs: pd.DataFrame, llm_gold_usage: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over folds, with every gold sentence the result consumed: the expert budget plus
    the labeller's own (its demonstrations and whatever chose it)."""
    summary = summarise_sweep(runs)
    labeller = int(llm_gold_usage.loc[llm_gold_usage["purpose"].isin(CHARGED_PURPOSES), "sentences"].sum())
    summary["labeller_gold_sentences"] = labeller
    summary["total_gold_sentences"] = summary["expert_sentences"] + labeller
    return summary


def reference_students(pool: pd.DataFrame, evaluation_samples: pd.DataFrame, model_llm_pure: Tagger, params: MixedAnnotationParams, student: StudentParams, entity_types: EntityTypes,
                       grid: GridSettings) -> pd.DataFrame:
    """The two ends of every budget curve on the same protocol: LLM-only (model_llm_pure) and
    gold-only (the same student on the pool's gold tags)."""
    protocol = Protocol.of(student, entity_types.schema)
    evaluation_sets = reported_sets(evaluation_samples)
    gold_only = Cell({"student": "gold_only"}, Student(protocol, (labelled_sentences(pool, "gold_tags"),), params.seed,
                                                        evaluation_sets))
    llm_only = evaluate_on(model_llm_pure, evaluation_sets, protocol.trainer).assign(student="llm_only")
    return pd.concat([llm_only, grid.grid().table("reference_students", [gold_only])], ignore_index=True)


def choose_init_budget(add_table: pd.DataFrame, correct_table: pd.DataFrame, params: MixedAnnotationParams) -> dict[str, Any]:
    """The budget model_init is trained at: fixed, or S0's saturation point on validation F1 of the
    configured mode and strategy."""
    init = params.init
    table = {"add": add_table, "correct": correct_table}[init.mode]
    budget = init.budget
    if budget == "saturation":
        budget = saturation_budget(table, init.strategy, params.saturation_delta)
        reason = f"smallest budget within {params.saturation_delta} validation F1 of the best"
    else:
        reason = "configured"
    return {"budget": float(budget), "percent": round(100 * float(budget)), "strategy": init.strategy,
            "mode": init.mode, "chosen_by": reason}


def train_model_init(pool: pd.DataFrame, outside: pd.DataFrame, choice: dict[str, Any],
                     params: MixedAnnotationParams, student: StudentParams, entity_types: EntityTypes) -> tuple[Tagger, pd.DataFrame]:
    """``model_init`` -- the student at the chosen budget -- and the set it trained on (``source``
    llm or gold per sentence): active learning continues from both."""
    candidates = pool if choice["mode"] == "correct" else outside
    expert = SELECTIONS[choice["strategy"]](candidates, expert_count(choice["budget"], len(pool)), params.seed)
    training_table = mixed_training_table(pool, expert, choice["mode"], params.llm_weight)
    tagger = train_student(Student(Protocol.of(student, entity_types.schema), (labelled_sentences(training_table),), params.seed))
    logger.info("model_init: %s, %d expert sentences (%s, mode %s)", choice["chosen_by"], len(expert), choice["strategy"],
                choice["mode"])
    return tagger, training_table


def sample_expert_set(outside: pd.DataFrame, params: MixedAnnotationParams) -> pd.DataFrame:
    """The gold-labelled sentences regimens and blending train on beside the LLM pool (Huang: 1,000
    CoNLL sentences): ``expert_set_size`` from outside the pool, seeded."""
    return seeded_sample(outside, params.expert_set_size, params.seed)


def regimen_sets(pool: pd.DataFrame, expert_set: pd.DataFrame, train_sentences: pd.DataFrame,
                 extra: ExtraParams, seed: int, schema: LabelSchema) -> dict[str, list]:
    """``gold`` (the expert set), ``llm`` and ``extra`` LLM-labelled sentences for the regimens.

    ``regimens.extra.source``: ``split`` -- a seeded ``share`` of the pool is the extra data and the
    rest the LLM set; ``import`` -- the pool is the LLM set and ``path`` a CoNLL file of LLM labels
    for other train sentences (those in the pool or the expert set are left out).
    """
    if extra.source == "split":
        extra_part = seeded_sample(pool, share_count(extra.share, len(pool), "mixed_annotation.regimens.extra.share"),
                                   seed)
        llm_part = pool[~pool["sentence_id"].isin(extra_part["sentence_id"])]
    else:  # import
        imported, _ = import_conll_labels(extra.path, train_sentences, schema)
        used = set(pool["sentence_id"]) | set(expert_set["sentence_id"])
        llm_part, extra_part = pool, imported[~imported["sentence_id"].isin(used)]
    return {"gold": labelled_sentences(expert_set, "gold_tags"), "llm": labelled_sentences(llm_part, "llm_tags"),
            "extra": labelled_sentences(extra_part, "llm_tags")}


def run_regimens(pool: pd.DataFrame, expert_set: pd.DataFrame, train_sentences: pd.DataFrame,
                 evaluation_samples: pd.DataFrame, params: MixedAnnotationParams,
                 student: StudentParams, entity_types: EntityTypes, grid: GridSettings) -> pd.DataFrame:
    """Huang's phase 2: gold only, LLM only, LLM + extra, and the two ``... then gold`` regimens."""
    regimens = params.regimens
    sets = regimen_sets(pool, expert_set, train_sentences, regimens.extra, params.seed, entity_types.schema)
    designs = regimen_designs(sets, regimens.names)
    return repeated_runs(designs, regimens.lr_schedules, regimens.seeds, Protocol.of(student, entity_types.schema),
                         reported_sets(evaluation_samples), grid.grid(), "regimens")


def run_blending(pool: pd.DataFrame, expert_set: pd.DataFrame, evaluation_samples: pd.DataFrame,
                 params: MixedAnnotationParams, student: StudentParams, entity_types: EntityTypes,
                 grid: GridSettings) -> pd.DataFrame:
    """Huang's phase 3: the pool's LLM labels and the expert set, blended epoch by epoch."""
    blending, protocol = params.blending, Protocol.of(student, entity_types.schema)
    designs = blending_designs(labelled_sentences(pool, "llm_tags"), labelled_sentences(expert_set, "gold_tags"),
                               blending.chosen, protocol.trainer.epochs)
    return repeated_runs(designs, blending.lr_schedules, blending.seeds, protocol,
                         reported_sets(evaluation_samples), grid.grid(), "blending")


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
