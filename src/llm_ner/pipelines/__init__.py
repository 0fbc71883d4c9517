"""The study's stages, one Kedro pipeline each (``create_pipeline`` in ``<stage>/pipeline.py``)."""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any, Callable, Iterable

from kedro.pipeline import Node, Pipeline, pipeline


def stage(name: str, nodes: Pipeline | Iterable[Node | Pipeline]) -> Pipeline:
    """A stage as one group: its nodes in namespace ``name`` (kedro-viz draws the stage as one
    collapsible box; ``--namespaces name`` runs it). Dataset names stay as they are: they are the
    catalog's, and stages share them."""
    return pipeline(nodes, namespace=name, prefix_datasets_with_namespace=False)


def bound(function: Callable, **values: Any) -> Callable:
    """``function`` with some arguments fixed in the pipeline (a split, a sweep's mode): Kedro inputs
    are datasets, not constants. It keeps the function's name and annotations (typed parameters)."""
    return update_wrapper(partial(function, **values), function)
