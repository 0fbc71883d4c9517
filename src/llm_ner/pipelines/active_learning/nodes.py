"""Thin nodes for the `active_learning` pipeline; the work is done in :mod:`llm_ner.active`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from llm_ner.active.compare import compare_strategies
from llm_ner.active.loop import ActiveLearningRun, LoopSettings, price_rounds
from llm_ner.costs import CostModel
from llm_ner.grid import Cell, rows_of
from llm_ner.label_studio import annotations_so_far, connect, labeling_config, read_export, tasks_for
from llm_ner.mixed import reference_f1
from llm_ner.model import Tagger
from llm_ner.parameters import ActiveLearningParams, EntityTypes
from llm_ner.students import StudentSetup

logger = logging.getLogger(__name__)


def expert_pool(
    choice: dict[str, Any], training_set: pd.DataFrame, mixing_pool: pd.DataFrame, expert_candidates: pd.DataFrame
) -> pd.DataFrame:
    """The sentences the expert may still label, in model_init's mode: new train sentences
    (``add``) or the pool's LLM-labelled ones (``correct``, with their LLM tags and confidence)."""
    labelled = set(training_set.loc[training_set["source"] == "gold", "sentence_id"])
    if choice["mode"] == "correct":
        columns = [
            c for c in ("sentence_id", "tokens", "gold_tags", "llm_tags", "sentence_confidence") if c in mixing_pool
        ]
        candidates = mixing_pool[columns]
    else:
        candidates = expert_candidates[["sentence_id", "tokens", "gold_tags"]]
    return candidates[~candidates["sentence_id"].isin(labelled)].reset_index(drop=True)


def pull_annotations(
    pool: pd.DataFrame, params: ActiveLearningParams, entity_types: EntityTypes, credentials: dict[str, Any]
) -> pd.DataFrame:
    """With ``expert_source: label_studio``: what people have labelled of the pool so far, from the
    loop's Label Studio project (or ``active_learning.label_studio.import_path``); else nothing."""
    if params.expert_source == "simulated":
        return pd.DataFrame(columns=["sentence_id", "status", "expert_tags", "lead_time_s"])
    settings, schema = params.label_studio, entity_types.schema
    export = annotations_so_far(credentials, settings.project, labeling_config(schema), settings.import_path)
    sentences = read_export(
        export, pool, schema, settings.rule, source=str(settings.import_path or "the Label Studio export")
    ).sentences
    return sentences[sentences["status"] != "missing"].reset_index(drop=True)


@dataclass(frozen=True)
class ActiveLearningDesign:
    """Which loops run, from where: model_init and the set it trained on, one :class:`LoopSettings`
    per strategy x seed, and -- with ``expert_source: label_studio`` -- what people labelled
    (``annotated``), skipped (``declined``) and how long each sentence took them (``seconds``)."""

    start: Tagger
    training: pd.DataFrame
    loops: tuple[LoopSettings, ...]
    annotated: dict[int, list[str]] | None = None
    declined: tuple[int, ...] = ()
    seconds: dict[int, float] | None = None


def design_active_learning(
    model_init: Tagger, training_set: pd.DataFrame, annotations: pd.DataFrame, params: ActiveLearningParams
) -> ActiveLearningDesign:
    """Every strategy x seed of ``params`` -- or, with ``expert_source: label_studio``, the one loop
    (``label_studio.strategy`` and ``seed``) that runs on what people labelled, as far as they have."""
    strategies, seeds, annotated, declined, seconds = params.strategies, params.seeds, None, (), None
    if params.expert_source == "label_studio":
        strategies, seeds = [params.label_studio.strategy], [params.label_studio.seed]
        labelled = annotations[annotations["status"] == "labelled"]
        annotated = dict(zip(labelled["sentence_id"], labelled["expert_tags"]))
        declined = tuple(sorted(int(i) for i in annotations.loc[annotations["status"] == "cancelled", "sentence_id"]))
        seconds = dict(zip(annotations["sentence_id"], annotations["lead_time_s"].fillna(0.0)))
    loops = tuple(
        LoopSettings(
            strategy=strategy, seed=seed, options=params.strategy_options.get(strategy, {}), **params.loop.model_dump()
        )
        for strategy in strategies
        for seed in seeds
    )
    return ActiveLearningDesign(model_init, training_set, loops, annotated, declined, seconds)


def run_active_learning(
    pool: pd.DataFrame, design: ActiveLearningDesign, setup: StudentSetup
) -> tuple[pd.DataFrame, dict[str, Tagger]]:
    """Every loop of the design (grid cells); the history of all, and the checkpoints of each
    strategy's first seed (``<strategy>/active_iter_<i>_added_<n>``). Sentences people skipped are
    never chosen."""
    setup.schema.check_model(design.start.labels, "model_init")
    first_seed = design.loops[0].seed if design.loops else None  # every strategy runs the same seeds
    cells = []
    for settings in design.loops:
        job = ActiveLearningRun(
            design.start,
            design.training,
            pool,
            setup.evaluation_sets,
            settings,
            setup.protocol.trainer,
            keep_checkpoints=settings.seed == first_seed,  # the first seed's only: memory
            annotated=design.annotated,
            declined=design.declined,
        )
        cells.append(Cell({"strategy": settings.strategy, "seed": settings.seed}, job))
    outputs = setup.grid.run("active_learning", cells)
    history = rows_of(outputs)
    checkpoints = {
        f"{cell.ids['strategy']}/{name}": tagger
        for cell, output in zip(cells, outputs)
        for name, tagger in output.artifacts.get("checkpoints", {}).items()
    }
    # stopping on validation F1 spends those gold labels on model selection: counted beside the result
    stopping = any(loop.improvement_threshold is not None for loop in design.loops)
    history["stopping_gold_sentences"] = len(setup.evaluation_sets["validation"]) if stopping else 0
    if design.seconds is not None:  # people's measured time for every sentence revealed so far (skipped ones included)
        skipped = float(sum(design.seconds[i] for i in design.declined))
        per_round = [sum(design.seconds[int(i)] for i in str(ids).split()) for ids in history["chosen_ids"].fillna("")]
        history["expert_seconds"] = skipped + pd.Series(per_round, index=history.index).cumsum()
    return history, checkpoints


def price_active_learning(runs: pd.DataFrame, cost_model: CostModel) -> pd.DataFrame:
    """The history with what each round's revealed labels cost the expert (``cost_model.expert``)."""
    return price_rounds(runs, cost_model.expert.usd)


def next_batch_tasks(history: pd.DataFrame, pool: pd.DataFrame, params: ActiveLearningParams) -> list[dict]:
    """With ``expert_source: label_studio``: the batch the loop waits for as Label Studio tasks (the
    LLM's labels pre-filled in ``correct`` mode); none when simulated or when the loop ran to its end."""
    if params.expert_source == "simulated" or "next_batch_ids" not in history:
        return []
    waiting = history["next_batch_ids"].dropna()
    ids = [int(i) for i in waiting.iloc[-1].split()] if len(waiting) else []
    return tasks_for(pool.set_index("sentence_id").loc[ids].reset_index())


def push_next_batch(
    tasks: list[dict], params: ActiveLearningParams, entity_types: EntityTypes, credentials: dict[str, Any]
) -> None:
    """The waiting batch pushed to the loop's Label Studio project, when a server is configured."""
    client = connect(credentials)
    if client is not None and tasks:
        client.import_tasks(client.project(params.label_studio.project, labeling_config(entity_types.schema)), tasks)
    if tasks:
        logger.info("active learning: %d sentences wait for people in Label Studio", len(tasks))


def compare(history: pd.DataFrame, reference_students: pd.DataFrame, params: ActiveLearningParams) -> pd.DataFrame:
    """Every strategy against random; the target is ``target_share`` of the gold-only student's test F1.
    A loop people labelled (``expert_source: label_studio``) has no random twin to beat."""
    gold = reference_f1(reference_students, "gold_only")
    if gold is None:
        raise ValueError(
            "reference_students has no gold_only test row: run mixed_annotation's score_reference_students"
        )
    baseline = "random" if params.expert_source == "simulated" else None
    table = compare_strategies(history, params.target_share * float(gold), baseline=baseline)
    table.insert(1, "gold_only_f1", float(gold))
    return table
