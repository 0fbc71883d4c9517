"""Kedro hooks. ``ReportInputs`` lets the reporting pipeline run on whatever the other pipelines
have left on disk: an input whose pipeline has not run loads as None (its report section then
says "not run"), and the report records which file and version every other input came from."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, MemoryDataset

from .parameters import check_parameters
from .pipelines.reporting.pipeline import REPORT, REPORT_RUN, create_pipeline

logger = logging.getLogger(__name__)


class NotRunDataset(AbstractDataset):
    """Stands in for an output that no run has written yet: loads as None."""

    def _load(self) -> None:
        return None

    def _save(self, data: Any) -> None:
        raise NotImplementedError("a stand-in for a missing input is never saved")

    def _describe(self) -> dict[str, Any]:
        return {"not_run": True}


def _where(dataset: AbstractDataset) -> str:
    """The file a dataset loads from, with the version a versioned one resolves to."""
    path = getattr(dataset, "_filepath", None)
    version = dataset.resolve_load_version() if hasattr(dataset, "resolve_load_version") else None
    return f"{path}" + (f" (version {version})" if version else "")


class CheckedParameters:
    """Every parameter group, ``--params`` included, checked against its typed settings
    (:mod:`llm_ner.parameters`) before anything runs: a bad value or a key no setting reads stops
    the run at once, whichever pipeline was asked for."""

    @hook_impl
    def after_context_created(self, context) -> None:
        check_parameters(context.config_loader["parameters"])


class ReportInputs:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        free = pipeline.inputs()
        if REPORT_RUN not in free:  # this run renders no report
            return
        report_inputs = {name for name in create_pipeline().inputs() if not name.startswith("params:")} - {REPORT_RUN}
        sources = {}
        for name in sorted(report_inputs):
            if name not in free:
                sources[name] = "this run"
            elif catalog.exists(name):
                sources[name] = _where(catalog.get(name))
            else:
                catalog[name] = NotRunDataset()
                sources[name] = "not run"
        env = run_params.get("env") or "local"
        pipelines = run_params.get("pipeline_names") or ["__default__"]
        catalog[REPORT_RUN] = MemoryDataset(
            {"env": env, "command": f"kedro run --env {env} --pipelines {','.join(pipelines)}", "inputs": sources}
        )

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if REPORT in pipeline.outputs():
            logger.info("The report: %s (open it in a browser)", _where(catalog.get(REPORT)))
