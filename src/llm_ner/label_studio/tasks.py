"""Sentences as Label Studio tasks with the LLM's labels pre-filled, and the labeling config.

A task (Label Studio's JSON import format)::

    {"data": {"text": "Anna flew to Lisbon .", "token_starts": [0, 5, 10, 13, 20],
              "token_ends": [4, 9, 12, 19, 21], "sentence_id": 7, "split": "train", "rank": 0},
     "predictions": [{"model_version": "knn_few_shot x qwen-0.5b", "score": 0.62,
                      "result": [{"id": "7-0", "from_name": "label", "to_name": "text", "type": "labels",
                                  "value": {"start": 13, "end": 19, "text": "Lisbon", "labels": ["LOC"]},
                                  "score": 0.8}]}]}

The prediction's ``score`` is the LLM's sentence confidence (Label Studio's data manager sorts
and filters by it); each region's ``score`` is that entity's confidence. Annotators correct the
pre-filled regions instead of labelling from nothing (Label Studio's pre-annotation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from ..tags import LabelSchema, bio_to_spans

FROM_NAME, TO_NAME = "label", "text"  # the names the labeling config gives its Labels and Text tags
# one colour per entity type, in schema order (Label Studio's default is grey for all)
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def sentence_text(tokens: Sequence[str]) -> tuple[str, list[int], list[int]]:
    """The tokens joined by single spaces, and each token's start and (exclusive) end offset."""
    starts, ends, position = [], [], 0
    for token in tokens:
        starts.append(position)
        position += len(token)
        ends.append(position)
        position += 1
    return " ".join(tokens), starts, ends


def labeling_config(schema: LabelSchema) -> str:
    """Label Studio's labeling config for a schema: one label per entity type (its title and
    description as the hint), word granularity so a selection snaps to whole words in the UI."""
    labels = "\n".join(
        f"    <Label value={quoteattr(t.name)} alias={quoteattr(t.name)} hint={quoteattr(t.description or t.title)} "
        f'background="{_COLOURS[i % len(_COLOURS)]}"/>'
        for i, t in enumerate(schema.types)
    )
    return (
        f'<View>\n  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}\n  </Labels>\n'
        f'  <Text name="{TO_NAME}" value="$text" granularity="word"/>\n</View>\n'
    )


def _score(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _prediction(row: Mapping, text: str, starts: list[int], ends: list[int], labeller: str) -> dict[str, Any]:
    entities = row.get("entity_confidence")  # a list, or an array when read back from parquet; None: no confidence
    confidence = {
        (e["start"], e["end"], e["type"]): e.get("confidence") for e in (() if entities is None else entities)
    }
    result = []
    for i, span in enumerate(bio_to_spans(list(row["llm_tags"]))):
        start, end = starts[span.start], ends[span.end - 1]
        region = {
            "id": f"{row['sentence_id']}-{i}",
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "labels",
            "origin": "prediction",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [span.label]},
        }
        score = _score(confidence.get((span.start, span.end, span.label)))
        if score is not None:
            region["score"] = score
        result.append(region)
    prediction: dict[str, Any] = {"model_version": labeller, "result": result}
    score = _score(row.get("sentence_confidence"))
    if score is not None:
        prediction["score"] = score
    return prediction


def _as_written(row: Mapping) -> tuple[str, list[int], list[int], dict[str, Any]]:
    """A raw document's sentence as people wrote it: its text, its tokens' offsets in that text,
    and where it lies (``document_id``, ``offset``: the sentence's start in its document)."""
    offset = int(row["start"])
    starts = [int(s) - offset for s in row["token_starts"]]
    ends = [int(e) - offset for e in row["token_ends"]]
    return str(row["text"]), starts, ends, {"document_id": str(row["document_id"]), "offset": offset}


def tasks_for(selection: pd.DataFrame, split: str = "train") -> list[dict[str, Any]]:
    """One task per selected sentence, in the selection's order (its ``rank``: 0 = chosen first).

    ``selection`` needs ``sentence_id`` and ``tokens``; with ``llm_tags`` its LLM entities are
    pre-filled, labelled by ``strategy`` x ``model`` and scored by ``entity_confidence`` /
    ``sentence_confidence`` where present. A sentence of raw documents (``text``, ``start`` and
    ``token_starts``/``token_ends`` in its document: :func:`llm_ner.documents.segment`) is shown as
    written; a CoNLL sentence, which has only tokens, as its tokens joined by single spaces.
    """
    tasks = []
    written = {"text", "start", "token_starts", "token_ends"} <= set(selection.columns)
    for rank, row in enumerate(selection.to_dict("records")):
        if written:
            text, starts, ends, place = _as_written(row)
        else:
            (text, starts, ends), place = sentence_text([str(t) for t in row["tokens"]]), {}
        task: dict[str, Any] = {
            "data": {
                "text": text,
                "token_starts": starts,
                "token_ends": ends,
                "sentence_id": int(row["sentence_id"]),
                **place,
                "split": split,
                "rank": rank,
            }
        }
        if row.get("llm_tags") is not None:
            labeller = " x ".join(str(row[c]) for c in ("strategy", "model") if row.get(c) is not None) or "llm"
            task["predictions"] = [_prediction(row, text, starts, ends, labeller)]
        tasks.append(task)
    return tasks
