"""Nodes of the serving pipeline: thin wrappers around :mod:`llm_ner.serving`."""

from __future__ import annotations

import logging

from llm_ner.inference import TaggingSettings
from llm_ner.model.tagger import Tagger
from llm_ner.parameters import ServingParams
from llm_ner.serving import log_tagger_model

logger = logging.getLogger(__name__)


def register_tagger(tagger: Tagger, tagging: TaggingSettings, serving: ServingParams) -> dict:
    """Log ``tagger`` as an MLflow model and register it; the model's name, version and URIs."""
    info = log_tagger_model(tagger, tagging, serving.registered_model_name)
    served = {
        "name": serving.registered_model_name,
        "version": int(info.registered_model_version),
        "registered_uri": f"models:/{serving.registered_model_name}/{info.registered_model_version}",
        "model_uri": info.model_uri,
        "labels": list(tagger.labels),
    }
    logger.info(
        "registered %s (serve it: mlflow models serve -m %s --env-manager local)",
        served["registered_uri"],
        served["registered_uri"],
    )
    return served
