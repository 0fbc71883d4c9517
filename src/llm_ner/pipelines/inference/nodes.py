"""Nodes of the inference pipeline: thin wrappers around :mod:`llm_ner.inference`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
from kedro.io.core import DatasetError, Version

from llm_ner import inference
from llm_ner.datasets.tagger_model import TaggerModelDataset
from llm_ner.model.tagger import WEIGHTS_FILE, Tagger
from llm_ner.parameters import EntityTypes, InferenceParams
from llm_ner.serving import load_tagger_model

logger = logging.getLogger(__name__)

_URI = re.compile(r"^[a-z][a-z0-9+.-]+:/")  # models:/..., runs:/..., s3://... (not C:\ on Windows)


def load_tagger(inference_params: InferenceParams, entity_types: EntityTypes) -> Tagger:
    """The tagger ``inference.model`` names: an MLflow model URI, a saved tagger's folder, or a
    versioned model folder of the catalog's (its newest version) -- for this run's entity types."""
    reference = inference_params.model
    if _URI.match(reference):
        tagger = load_tagger_model(reference).tagger
    elif (Path(reference) / WEIGHTS_FILE).is_file():
        tagger = Tagger.load(reference)
    else:
        try:
            tagger = TaggerModelDataset(reference, version=Version(None, None)).load()
        except DatasetError:
            raise ValueError(
                f"inference.model: {reference!r} holds no saved tagger (train one: kedro run --pipeline "
                "training) and is not an MLflow model URI (models:/<name>/<version>)"
            ) from None
    entity_types.schema.check_model(tagger.labels, f"inference.model {reference!r}")
    return tagger


def tag_documents(documents: pd.DataFrame, tagger: Tagger, inference_params: InferenceParams) -> pd.DataFrame:
    """One record per document, in input order, on this process or sharded over Ray."""
    if inference_params.executor == "ray":
        return inference.tag_documents_on_ray(tagger, documents, inference_params.tagging, inference_params.ray)
    return inference.tag_documents(tagger, documents, inference_params.tagging)


def count_statuses(records: pd.DataFrame) -> pd.DataFrame:
    counts = inference.status_counts(records)
    logger.info(
        "tagged %d documents: %s",
        len(records),
        ", ".join(f"{r.documents} {r.status} ({r.entities} entities)" for r in counts.itertuples()),
    )
    return counts
