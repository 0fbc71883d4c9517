"""Experiment tracking with MLflow (kedro-mlflow opens one run per `kedro run`, see
conf/base/mlflow.yml): every model the study trains becomes a nested run -- each student's epochs,
each learning-curve size x seed, budget x strategy x fold, regimen or schedule x LR schedule x seed,
active-learning round, and multitask design x seed (per evaluation split) -- with its identifying
parameters and its metrics, logged from the runs tables the pipelines already write; the HTML
report becomes an artifact of the run. With tracking off (conf/test) there is no active run and
nothing is logged.

Browse with ``kedro mlflow ui`` (the sqlite store under data/).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import mlflow
import pandas as pd
from kedro.framework.hooks import hook_impl
from pydantic import BaseModel

from .typed import plain

logger = logging.getLogger(__name__)

# runs table -> the columns that identify one trained model in it
NESTED_RUNS = {
    "learning_curve_runs": ["size", "seed"],
    "mixed_annotation.add.budget_runs": ["mode", "strategy", "budget", "fold"],
    "mixed_annotation.correct.budget_runs": ["mode", "strategy", "budget", "fold"],
    "regimen_runs": ["design", "lr_schedule", "seed"],
    "blending_runs": ["design", "lr_schedule", "seed"],
    "active_learning_history": ["strategy", "seed", "iteration"],
    "multitask_runs": ["design", "seed", "split"],
    "label_quality_runs": ["level", "route", "gold_sentences", "repeat"],
}
EPOCH_HISTORIES = {"training_history_gold": "model_gold", "training_history_llm": "model_llm"}
ARTIFACTS = {"report": "report/report.html"}
SCORES = ["precision", "recall", "f1", "token_accuracy", "loss"]


def run_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """One model's metrics: long tables (a row per split x entity type) become ``<split>.<type>.<score>``;
    a history row keeps its numeric columns."""
    if {"split", "entity_type"} <= set(rows):
        return {
            f"{r['split']}.{r['entity_type']}.{score}": float(r[score])
            for _, r in rows.iterrows()
            for score in SCORES
            if score in rows and pd.notna(r[score])
        }
    numeric = rows.select_dtypes("number").iloc[-1]
    return {name: float(value) for name, value in numeric.items() if pd.notna(value)}


def _child(run_name: str):
    """A run nested in the active one, in the same experiment."""
    return mlflow.start_run(run_name=run_name, nested=True, experiment_id=mlflow.active_run().info.experiment_id)


def log_nested_runs(name: str, table: pd.DataFrame, keys: list[str]) -> int:
    """One nested run per model (group of ``keys``) of a runs table; returns how many."""
    models = table.groupby(keys, sort=False)
    for identity, rows in models:
        params = dict(zip(keys, identity if isinstance(identity, tuple) else (identity,)))
        run_name = f"{name} " + " ".join(f"{k}={v}" for k, v in params.items())
        with _child(run_name):
            mlflow.log_params({**params, "table": name})
            mlflow.log_metrics(run_metrics(rows.drop(columns=keys)))
    return models.ngroups


def log_epochs(student: str, history: pd.DataFrame) -> None:
    with _child(f"{student} epochs"):
        mlflow.log_param("student", student)
        for _, row in history.iterrows():
            numeric = {
                k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and pd.notna(v) and k != "epoch"
            }
            mlflow.log_metrics(numeric, step=int(row.get("epoch", 0)))


def flat_params(prefix: str, value: Any) -> dict[str, Any]:
    """``{"a.b.c": value}`` for every leaf of a nested mapping; a character MLflow refuses in a
    name (a user's key may hold any: ``marks: {GPT-4 (Huang): 0.65}``) becomes ``_``."""
    if isinstance(value, dict) and value:
        return {
            key: leaf for name, inner in value.items() for key, leaf in flat_params(f"{prefix}.{name}", inner).items()
        }
    return {re.sub(r"[^\w\-. :/]", "_", prefix): value}


class NestedRuns:
    @hook_impl
    def before_node_run(self, node, inputs: dict[str, Any]) -> None:
        """kedro-mlflow logs a node's parameters flattened when they are dicts; the typed settings
        (llm_ner.parameters) are logged here the same way, ``<group>.<key>...``. Leaves are the
        Python values (a tuple stays a tuple) and written as kedro-mlflow writes them (``str``): a
        node that reads one key of a typed group (``params:label_studio.seeds``) has it logged by
        kedro-mlflow under the same name, and MLflow refuses a second, different value."""
        if mlflow.active_run() is None:
            return
        for name, value in inputs.items():
            typed = isinstance(value, BaseModel) or (dataclasses.is_dataclass(value) and not isinstance(value, type))
            if name.startswith("params:") and typed:
                mlflow.log_params(
                    {
                        key: str(leaf)[:6000]
                        for key, leaf in flat_params(name.removeprefix("params:"), plain(value)).items()
                    }
                )

    @hook_impl
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        if mlflow.active_run() is None:  # tracking off for this run
            return
        for name, data in outputs.items():
            if name in NESTED_RUNS and isinstance(data, pd.DataFrame) and not data.empty:
                count = log_nested_runs(name, data, NESTED_RUNS[name])
                logger.info("mlflow: %d nested runs from %s", count, name)
            elif name in EPOCH_HISTORIES and isinstance(data, pd.DataFrame) and not data.empty:
                log_epochs(EPOCH_HISTORIES[name], data)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if dataset_name in ARTIFACTS and mlflow.active_run() is not None:
            mlflow.log_text(data, ARTIFACTS[dataset_name])
