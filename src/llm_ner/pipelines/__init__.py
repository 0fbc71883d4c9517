"""The study's stages, one Kedro pipeline each (``create_pipeline`` in ``<stage>/pipeline.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import partial, update_wrapper
from typing import Any

import pandas as pd
from kedro.pipeline import Node, Pipeline, node, pipeline

from llm_ner.costs import CostModel
from llm_ner.grid import GridSettings
from llm_ner.llm.settings import AnnotationSettings, LLMAccess, LLMSettings, model_settings, parse_llm_settings
from llm_ner.model.evaluation import reported_sets
from llm_ner.parameters import EntityTypes, LLMModels, PromptParams
from llm_ner.students import Protocol, StudentParams, StudentSetup


def stage(name: str, nodes: Pipeline | Iterable[Node | Pipeline]) -> Pipeline:
    """A stage as one group: its nodes in namespace ``name`` (kedro-viz draws the stage as one
    collapsible box; ``--namespaces name`` runs it). Dataset names stay as they are: they are the
    catalog's, and stages share them."""
    return pipeline(nodes, namespace=name, prefix_datasets_with_namespace=False)


def bound(function: Callable, **values: Any) -> Callable:
    """``function`` with some arguments fixed in the pipeline (a split, a sweep's mode): Kedro inputs
    are datasets, not constants. It keeps the function's name and annotations (typed parameters)."""
    return update_wrapper(partial(function, **values), function)


def student_setup(
    student: StudentParams, entity_types: EntityTypes, grid: GridSettings, evaluation_samples: pd.DataFrame
) -> StudentSetup:
    schema = entity_types.schema
    return StudentSetup(Protocol.of(student, schema), reported_sets(evaluation_samples), grid.grid(), schema)


def student_setup_node(stage_name: str) -> Node:
    """The node that builds a stage's :class:`StudentSetup` (``<stage>_student_setup``): one per stage,
    so that a stage run alone (``--namespaces``) builds it from this run's parameters."""
    return node(
        student_setup,
        ["params:student", "params:entity_types", "params:grid", "evaluation_samples"],
        f"{stage_name}_student_setup",
        name="define_student_setup",
    )


def llm_access(
    models: LLMModels, cost_model: CostModel, annotation: AnnotationSettings, credentials: dict[str, Any]
) -> LLMAccess:
    return LLMAccess(
        {name: model_settings(name, values) for name, values in models.root.items()},
        cost_model.llm_prices,
        annotation.cache_path,
        annotation.model_dir,
        annotation.show_progress,
        dict(credentials or {}),
    )


def join_settings(
    annotation: AnnotationSettings, prompts: PromptParams, entity_types: EntityTypes, access: LLMAccess
) -> LLMSettings:
    """The run's settings, the prompts and the LLMs joined: strategies rendered for the label set,
    every model and strategy name cross-checked across the groups."""
    settings = parse_llm_settings(annotation, access.models, prompts.model_dump(), access.prices, entity_types.schema)
    return dataclasses.replace(settings, credentials=access.credentials)


def llm_access_node(output: str) -> Node:
    """The node that builds a stage's :class:`LLMAccess` (``output``): one per stage that calls an
    LLM, so that a stage run alone reaches its LLMs with this run's parameters and credentials."""
    return node(
        llm_access,
        ["params:llm_models", "params:cost_model", "params:llm_annotation", "llm_api_credentials"],
        output,
        name="configure_llm_access",
    )
