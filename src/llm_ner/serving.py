"""A trained tagger as an MLflow model: ``mlflow models serve`` answers over REST with the spans the
batch ``inference`` pipeline writes for the same text (both call :func:`llm_ner.inference.tag_documents`).

The model folder holds the tagger (weights, tokenizer, label list) as an artifact and, in its
``model_config``, the label schema and the tagging settings it was logged with. Its input is a
table with a string column ``text`` (and an optional ``id``); its output one record per row,
``{"id", "text", "spans", "status"}``. Loading it with another schema
(``mlflow.pyfunc.load_model(uri, model_config={"labels": [...]})``) is an error naming both.

Why not kedro-mlflow's ``pipeline_ml_factory``/``KedroPipelineModel``: its ``predict`` deep-copies
the catalog of loaded artifacts -- the whole tagger -- on every request and runs a Kedro runner
around one function; it copies a versioned model dataset's folder with every version in it; and
its ``signature: auto`` cannot describe typed settings. This wrapper loads the tagger once and
calls the same core function as the pipeline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from .inference import TaggingSettings, tag_documents
from .model.tagger import Tagger
from .tags import entity_types_of
from .typed import plain

TAGGER_ARTIFACT = "tagger"
INPUT_SCHEMA = Schema([ColSpec("string", "text"), ColSpec("string", "id", required=False)])


class TaggerModel(mlflow.pyfunc.PythonModel):
    """The pyfunc flavour: ``predict(table with "text")`` -> records (see the module docstring)."""

    def load_context(self, context) -> None:
        config = dict(context.model_config or {})
        self.tagger = Tagger.load(context.artifacts[TAGGER_ARTIFACT])
        expected = tuple(config.get("labels", self.tagger.labels))
        if expected != self.tagger.labels:
            raise ValueError(
                f"this model tags {', '.join(entity_types_of(self.tagger.labels))} "
                f"(tags {', '.join(self.tagger.labels)}), but it was loaded for the entity types "
                f"{', '.join(entity_types_of(expected))} (tags {', '.join(expected)})"
            )
        self.settings = TaggingSettings(**config.get("tagging", {}))

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "text" not in model_input:
            raise ValueError(f'the input needs a column "text"; it has {list(model_input.columns)}')
        return tag_documents(self.tagger, model_input, self.settings)


def log_tagger_model(
    tagger: Tagger, settings: TaggingSettings, registered_name: str | None, name: str = "tagger"
) -> mlflow.models.model.ModelInfo:
    """Log ``tagger`` as a pyfunc model in the active MLflow run (or a new one) and, given a
    ``registered_name``, register it in the model registry as its next version."""
    with tempfile.TemporaryDirectory() as folder:
        tagger.save(Path(folder) / TAGGER_ARTIFACT)
        config = {"labels": list(tagger.labels), "tagging": plain(settings, mode="json")}
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("served_model.py")),
            artifacts={TAGGER_ARTIFACT: str(Path(folder) / TAGGER_ARTIFACT)},
            model_config=config,
            signature=ModelSignature(inputs=INPUT_SCHEMA),
            registered_model_name=registered_name,
            # the project's own environment serves it (`--env-manager local`): no requirements to
            # infer, which would load the model once more in a subprocess
            pip_requirements=[],
        )


def load_tagger_model(uri: str) -> TaggerModel:
    """The :class:`TaggerModel` behind an MLflow model URI (``models:/name/1``, ``runs:/...``)."""
    return mlflow.pyfunc.load_model(uri).unwrap_python_model()
