"""Every pipeline under `pipelines/` is registered by name; `__default__` runs the study's six stages
(`multitask`, seed S2's side study, runs on its own: it asks the LLM for one topic per sentence)."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

STUDY = ("data_analysis", "llm_annotation", "training", "mixed_annotation", "active_learning", "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines()  # with `--pipelines x`, Kedro imports only those: the others are absent
    pipelines["__default__"] = sum((pipelines[name] for name in STUDY if name in pipelines), Pipeline([]))
    return pipelines
