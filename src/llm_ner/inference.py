"""Tagging documents with a trained tagger: raw text in, entities at their characters out.

One function, :func:`tag_documents`, serves the batch ``inference`` pipeline, its Ray shards and
the served MLflow model alike, so the three give the same spans for the same text. Each input
document gives one record, in input order::

    {"id", "text", "spans": [{"start", "end", "label", "text", "score"}], "status"}

``status`` is ``ok``; ``empty`` (no sentence in the text); ``split`` (tagged in full, but a
sentence longer than the encoder's sub-word limit was tagged in parts -- never truncated); or
``error: <why>`` for a document that could not be read (a text that is not a string). ``score``
is the entity's probability from the tagger: the mean over its words of the probability that the
word belongs to an entity of that type (``B-X`` + ``I-X``), so a B/I repair does not lower it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import PositiveFloat, PositiveInt

from .documents import SegmenterSettings, Token, sentences_of
from .grid import start_ray
from .model.prediction import run_inference
from .model.tagger import Tagger
from .tags import OUTSIDE, bio_to_spans, repair_bio
from .typed import settings

RECORD_COLUMNS = ("id", "text", "spans", "status")
SCORE_DECIMALS = 4  # floats from differently shaped batches (Ray shards) agree to far more than this


@settings
class TaggingSettings:
    """How documents become sentences and batches: logged with a served model, so that it cuts
    text as the batch pipeline does."""

    segmenter: SegmenterSettings = SegmenterSettings()
    batch_size: PositiveInt = 64


def tag_documents(
    tagger: Tagger, documents: pd.DataFrame, settings: TaggingSettings = TaggingSettings()
) -> pd.DataFrame:
    """One record per row of ``documents`` (``text``, and ``document_id`` or ``id``), in order."""
    ids = _ids(documents)
    pieces, owners, split = [], [], set()
    records = []
    for i, (document_id, text) in enumerate(zip(ids, documents["text"])):
        record = {"id": _plain(document_id), "text": text, "spans": [], "status": "ok"}
        records.append(record)
        if not isinstance(text, str):  # kept as a row, without the value (a NaN is not JSON)
            record.update(text=None, status=f"error: text must be a string, got {type(text).__name__}")
            continue
        sentences = sentences_of(text, settings.segmenter)
        if not sentences:
            record["status"] = "empty"
        for parts in fitting_parts(tagger, sentences):
            if len(parts) > 1:
                split.add(i)
            pieces.extend(parts)
            owners.extend([i] * len(parts))
    probabilities = run_inference(
        tagger, [[t.text for t in piece] for piece in pieces], batch_size=settings.batch_size
    ).probabilities
    for owner, piece, p in zip(owners, pieces, probabilities):
        records[owner]["spans"].extend(entities(tagger.labels, piece, p, records[owner]["text"]))
    for i in split:
        records[i]["status"] = "split"
    return pd.DataFrame(records, columns=list(RECORD_COLUMNS), dtype=object)  # object: a missing text stays None


def fitting_parts(tagger: Tagger, sentences: list[list[Token]]) -> list[list[list[Token]]]:
    """Each sentence in consecutive parts that each fit the tagger's sub-word limit (one part when
    it fits, as nearly all do): every word is seen by the model, none cut off."""
    encoded = tagger.encode([[t.text for t in sentence] for sentence in sentences])
    return [
        [sentence] if len(e.word_starts) == e.n_words else _split(tagger, sentence)
        for sentence, e in zip(sentences, encoded)
    ]


def _split(tagger: Tagger, tokens: list[Token]) -> list[list[Token]]:
    parts, rest = [], tokens
    while rest:
        encoded = tagger.encode([[t.text for t in rest]])[0]
        kept = max(1, len(encoded.word_starts))  # a lone word longer than the limit: its first sub-words
        parts.append(rest[:kept])
        rest = rest[kept:]
    return parts


def entities(labels: Sequence[str], tokens: list[Token], probabilities: np.ndarray, text: str) -> list[dict]:
    """The entities of one tagged sentence (repaired to valid IOB2) at their characters in ``text``."""
    tags, _ = repair_bio([labels[k] for k in probabilities.argmax(axis=1)])
    columns = {}
    for k, label in enumerate(labels):
        if label != OUTSIDE:
            columns.setdefault(label[2:], []).append(k)
    spans = []
    for span in bio_to_spans(tags):
        start, end = tokens[span.start].start, tokens[span.end - 1].end
        in_type = probabilities[span.start : span.end][:, columns[span.label]].sum(axis=1)
        spans.append(
            {
                "start": start,
                "end": end,
                "label": span.label,
                "text": text[start:end],
                "score": round(float(in_type.mean()), SCORE_DECIMALS),
            }
        )
    return spans


def _plain(value: Any) -> Any:
    """A numpy scalar id as the Python value JSON writes."""
    return value.item() if isinstance(value, np.generic) else value


@settings
class RayTagging:
    """``executor: ray``: documents sharded over Ray Data (``map_batches``) to ``workers`` tagger
    replicas of ``cpus_per_worker`` CPUs each, on this machine (``ray.init``, at most ``num_cpus``
    CPUs) or a running cluster (``address``)."""

    address: str | None = None
    num_cpus: PositiveInt | None = None
    workers: PositiveInt = 2
    cpus_per_worker: PositiveFloat = 1
    documents_per_batch: PositiveInt = 64


def tag_documents_on_ray(
    tagger: Tagger, documents: pd.DataFrame, settings: TaggingSettings, ray_settings: RayTagging
) -> pd.DataFrame:
    """:func:`tag_documents` over Ray Data: the same records, in input order."""
    import ray  # optional: pip install -e '.[ray]'

    start_ray(ray_settings.address, ray_settings.num_cpus)
    # each record travels as one JSON string: Arrow would turn a span list into arrays of structs
    table = pd.DataFrame(
        {
            "order": range(len(documents)),
            "document": [json.dumps({"id": _plain(i), "text": t}) for i, t in zip(_ids(documents), documents["text"])],
        }
    )
    size = ray_settings.documents_per_batch
    blocks = [table.iloc[i : i + size] for i in range(0, len(table), size)] or [
        table
    ]  # a block per batch: all workers busy
    tagged = (
        ray.data.from_pandas(blocks)
        .map_batches(
            _Shard,
            fn_constructor_kwargs={
                "tagger": ray.put(tagger),
                "settings": settings,
                "threads": max(1, int(ray_settings.cpus_per_worker)),
            },
            batch_size=size,
            batch_format="pandas",
            concurrency=ray_settings.workers,
            num_cpus=ray_settings.cpus_per_worker,
        )
        .to_pandas()
        .sort_values("order")
    )
    return pd.DataFrame([json.loads(r) for r in tagged["record"]], columns=list(RECORD_COLUMNS), dtype=object)


class _Shard:
    """One Ray Data worker: a tagger replica that tags a batch of documents."""

    def __init__(self, tagger: Any, settings: TaggingSettings, threads: int):
        import ray
        import torch

        torch.set_num_threads(threads)
        self.tagger = ray.get(tagger)
        self.settings = settings

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        documents = pd.DataFrame([json.loads(d) for d in batch["document"]])
        records = tag_documents(self.tagger, documents, self.settings)
        return pd.DataFrame(
            {"order": batch["order"].to_numpy(), "record": [json.dumps(r) for r in records.to_dict("records")]}
        )


def _ids(documents: pd.DataFrame) -> pd.Series:
    """A documents table's ids: ``document_id`` (the reader's), else ``id`` (a served request's),
    else the row index."""
    for column in ("document_id", "id"):
        if column in documents:
            return documents[column]
    return documents.index.to_series()


def status_counts(records: pd.DataFrame) -> pd.DataFrame:
    """How many documents got each status, and how many entities they hold."""
    kind = records["status"].str.split(":").str[0]
    counts = (
        records.assign(status=kind, entities=records["spans"].map(len))
        .groupby("status", sort=True)
        .agg(documents=("id", "size"), entities=("entities", "sum"))
    )
    return counts.reset_index()
