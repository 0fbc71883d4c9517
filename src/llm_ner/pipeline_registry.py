"""Every pipeline under `pipelines/` is registered by name; `__default__` runs the study's six stages
and registers the gold-trained student as a servable MLflow model (`serving`). `multitask` (seed
S2's side study: it asks the LLM for one topic per sentence) and `inference` (tag a folder of
documents with a saved student) run on their own."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

STUDY = ("data_analysis", "llm_annotation", "training", "mixed_annotation", "active_learning", "reporting")
DEFAULT = (*STUDY, "serving")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines()  # with `--pipelines x`, Kedro imports only those: the others are absent
    pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT if name in pipelines), Pipeline([]))
    return pipelines
