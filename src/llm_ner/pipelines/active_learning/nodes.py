"""Thin nodes for the `active_learning` pipeline; the work is done in :mod:`llm_ner.active`."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from llm_ner.active.compare import compare_strategies
from llm_ner.active.loop import ActiveLearningRun, LoopSettings
from llm_ner.costs import CostModel
from llm_ner.grid import Cell, GridSettings, rows_of
from llm_ner.label_studio import annotations_so_far, connect, labeling_config, read_export, tasks_for
from llm_ner.mixed import reference_f1
from llm_ner.model import Tagger
from llm_ner.model.evaluation import reported_sets
from llm_ner.parameters import ActiveLearningParams, EntityTypes
from llm_ner.students import Protocol, StudentParams

logger = logging.getLogger(__name__)


def expert_pool(choice: dict[str, Any], training_set: pd.DataFrame, mixing_pool: pd.DataFrame,
                expert_candidates: pd.DataFrame) -> pd.DataFrame:
    """The sentences the expert may still label, in model_init's mode: new train sentences
    (``add``) or the pool's LLM-labelled ones (``correct``, with their LLM tags and confidence)."""
    labelled = set(training_set.loc[training_set["source"] == "gold", "sentence_id"])
    if choice["mode"] == "correct":
        columns = [c for c in ("sentence_id", "tokens", "gold_tags", "llm_tags", "sentence_confidence") if c in mixing_pool]
        candidates = mixing_pool[columns]
    else:
        candidates = expert_candidates[["sentence_id", "tokens", "gold_tags"]]
    return candidates[~candidates["sentence_id"].isin(labelled)].reset_index(drop=True)


def pull_annotations(pool: pd.DataFrame, params: ActiveLearningParams, entity_types: EntityTypes,
                     credentials: dict[str, Any]) -> pd.DataFrame:
    """With ``expert_source: label_studio``: what people have labelled of the pool so far, from the
    loop's Label Studio project (or ``active_learning.label_studio.import_path``); else nothing."""
    if params.expert_source == "simulated":
        return pd.DataFrame(columns=["sentence_id", "status", "expert_tags", "lead_time_s"])
    settings, schema = params.label_studio, entity_types.schema
    export = annotations_so_far(credentials, settings.project, labeling_config(schema), settings.import_path)
    sentences = read_export(export, pool, schema, settings.rule,
                            source=str(settings.import_path or "the Label Studio export")).sentences
    return sentences[sentences["status"] != "missing"].reset_index(drop=True)


def run_active_learning(model_init: Tagger, training_set: pd.DataFrame, pool: pd.DataFrame,
                        evaluation_samples: pd.DataFrame, params: ActiveLearningParams,
                        student: StudentParams, entity_types: EntityTypes, cost_model: dict[str, Any],
                        grid: GridSettings, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Tagger]]:
    """Every strategy x seed from the same model_init (grid cells); the history of all, and the
    checkpoints of each strategy's first seed (``<strategy>/active_iter_<i>_added_<n>``).

    With ``expert_source: label_studio`` one loop (``label_studio.strategy`` and ``seed``) runs on
    what people labelled, as far as they have labelled; sentences they skipped are never chosen."""
    loop = params.loop
    strategies, seeds, annotated, declined = params.strategies, params.seeds, None, ()
    if params.expert_source == "label_studio":
        strategies, seeds = [params.label_studio.strategy], [params.label_studio.seed]
        labelled = annotations[annotations["status"] == "labelled"]
        annotated = dict(zip(labelled["sentence_id"], labelled["expert_tags"]))
        declined = tuple(sorted(int(i) for i in annotations.loc[annotations["status"] == "cancelled", "sentence_id"]))
    protocol = Protocol.of(student, entity_types.schema)
    entity_types.schema.check_model(model_init.labels, "model_init")
    training_config = protocol.trainer
    evaluation_sets = reported_sets(evaluation_samples)
    expert = CostModel.from_params(cost_model).expert
    cells = []
    for strategy in strategies:
        options = params.strategy_options.get(strategy, {})
        for i, seed in enumerate(seeds):
            settings = LoopSettings(strategy=strategy, seed=seed, options=options, **loop.model_dump())
            job = ActiveLearningRun(model_init, training_set, pool, evaluation_sets, settings, training_config, expert,
                                    keep_checkpoints=i == 0,  # the first seed's checkpoints only: memory
                                    annotated=annotated, declined=declined)
            cells.append(Cell({"strategy": strategy, "seed": seed}, job))
    outputs = grid.grid().run("active_learning", cells)
    history = rows_of(outputs)
    checkpoints = {f"{cell.ids['strategy']}/{name}": tagger for cell, output in zip(cells, outputs)
                   for name, tagger in output.artifacts.get("checkpoints", {}).items()}
    # stopping on validation F1 spends those gold labels on model selection: counted beside the result
    history["stopping_gold_sentences"] = len(evaluation_sets["validation"]) if loop.improvement_threshold is not None else 0
    if annotated is not None:  # people's measured time for every sentence revealed so far (skipped ones included)
        seconds = dict(zip(annotations["sentence_id"], annotations["lead_time_s"].fillna(0.0)))
        skipped = float(annotations.loc[annotations["status"] == "cancelled", "lead_time_s"].fillna(0.0).sum())
        per_round = [sum(seconds[int(i)] for i in str(ids).split()) for ids in history["chosen_ids"].fillna("")]
        history["expert_seconds"] = skipped + pd.Series(per_round, index=history.index).cumsum()
    return history, checkpoints


def next_batch_tasks(history: pd.DataFrame, pool: pd.DataFrame, params: ActiveLearningParams,
                     entity_types: EntityTypes, credentials: dict[str, Any]) -> list[dict]:
    """With ``expert_source: label_studio``: the batch the loop waits for as Label Studio tasks (the
    LLM's labels pre-filled in ``correct`` mode), pushed to the loop's project when a server is
    configured; none when simulated or when the loop ran to its end."""
    if params.expert_source == "simulated" or "next_batch_ids" not in history:
        return []
    waiting = history["next_batch_ids"].dropna()
    ids = [int(i) for i in waiting.iloc[-1].split()] if len(waiting) else []
    batch = pool.set_index("sentence_id").loc[ids].reset_index()
    tasks = tasks_for(batch)
    client = connect(credentials)
    if client is not None and tasks:
        client.import_tasks(client.project(params.label_studio.project, labeling_config(entity_types.schema)), tasks)
    logger.info("active learning: %d sentences wait for people in Label Studio", len(tasks))
    return tasks


def compare(history: pd.DataFrame, reference_students: pd.DataFrame, params: ActiveLearningParams) -> pd.DataFrame:
    """Every strategy against random; the target is ``target_share`` of the gold-only student's test F1.
    A loop people labelled (``expert_source: label_studio``) has no random twin to beat."""
    gold = reference_f1(reference_students, "gold_only")
    if gold is None:
        raise ValueError("reference_students has no gold_only test row: run mixed_annotation's score_reference_students")
    baseline = "random" if params.expert_source == "simulated" else None
    table = compare_strategies(history, params.target_share * float(gold), baseline=baseline)
    table.insert(1, "gold_only_f1", float(gold))
    return table


