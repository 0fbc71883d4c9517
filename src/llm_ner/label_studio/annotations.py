"""A Label Studio JSON export read back into IOB2 tags, one row per exported sentence.

What a real export holds, and what becomes of it:

* a region's character span is mapped to the tokens it overlaps through the token offsets the
  task carries (``data.token_starts`` / ``token_ends``); one that cuts a token ("Lisbo" of
  "Lisbon") or covers no token is snapped to token boundaries (or dropped) and counted as
  ``repaired``, with the reason. Whitespace at a region's edges is not a repair;
* overlapping regions in one annotation, a region with several labels or a label outside the
  label set, a task this project did not export, and one sentence exported twice are errors that
  name the task;
* an annotation with ``was_cancelled`` (Label Studio's *skip*) does not label its sentence;
  ``status`` says ``labelled``, ``cancelled`` (only cancelled annotations), ``unlabelled`` (none)
  or ``missing`` (an exported sentence that is not in the export);
* several annotators on a task: their pairwise entity F1 is the inter-annotator agreement, and
  one rule makes the tags -- ``first`` (the earliest submitted annotation) or ``majority`` (the
  spans more than half of the annotators marked; they cannot overlap);
* ``lead_time_s`` is the time every annotation of the sentence took, cancelled ones included (it
  was paid for); NaN when Label Studio recorded none.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

from ..metrics import entity_scores
from ..tags import LabelSchema, Span, spans_to_bio
from .tasks import FROM_NAME

AGREEMENT_RULES = ("first", "majority")
STATUSES = ("labelled", "cancelled", "unlabelled", "missing")
COLUMNS = [
    "sentence_id",
    "task_id",
    "status",
    "expert_tags",
    "annotators",
    "cancelled",
    "lead_time_s",
    "repaired",
    "repair_reasons",
]


@dataclass(frozen=True)
class ExpertAnnotations:
    """What came back: ``sentences`` (:data:`COLUMNS`, one row per exported sentence) and the
    inter-annotator agreement over the tasks that several annotators submitted."""

    sentences: pd.DataFrame
    agreement_f1: float | None  # micro entity F1 between annotators, over every pair on every shared task

    @property
    def agreement_tasks(self) -> int:
        """Tasks with two or more submitted annotations (what ``agreement_f1`` is measured on)."""
        return int((self.sentences["annotators"] >= 2).sum())

    def counts(self) -> dict[str, int]:
        """Sentences per status, every status present (0 when none)."""
        found = self.sentences["status"].value_counts()
        return {status: int(found.get(status, 0)) for status in STATUSES}


@dataclass(frozen=True)
class _Annotation:
    order: tuple  # (created_at, id): which came first
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class TaskText:
    """A sentence's text and its tokens' character offsets in it, with the name errors give it
    (a Label Studio task, a line of a span file): where a labelled character span lands on tokens."""

    task: str
    text: str
    starts: list[int]
    ends: list[int]

    def tokens_of(self, region_start: int, region_end: int) -> list[int]:
        """The tokens a region overlaps."""
        return [i for i, (s, e) in enumerate(zip(self.starts, self.ends)) if s < region_end and e > region_start]


def _spans(
    annotation: Mapping[str, Any], sentence: TaskText, schema: LabelSchema, reasons: list[str]
) -> tuple[Span, ...]:
    """The token spans of one submitted annotation; snapped regions add a reason to ``reasons``."""
    task, text, starts, ends = sentence.task, sentence.text, sentence.starts, sentence.ends
    spans: list[tuple[Span, str]] = []
    for region in annotation.get("result") or []:
        if region.get("type") != "labels" or region.get("from_name") != FROM_NAME:
            continue  # another control's result (a comment, a relation): not an entity
        value = region.get("value") or {}
        labels = value.get("labels") or []
        if len(labels) != 1:
            raise ValueError(f"{task}: a region has {len(labels)} labels {labels}; give each entity exactly one")
        if labels[0] not in schema.names:
            raise ValueError(f"{task}: label {labels[0]!r} is not in the label set {list(schema.names)}")
        start, end = int(value["start"]), int(value["end"])
        covered = sentence.tokens_of(start, end)
        written = text[start:end]
        if not covered:
            reasons.append(f"{written!r} covers no token: dropped")
            continue
        snapped_start, snapped_end = starts[covered[0]], ends[covered[-1]]
        trimmed_start = start + len(written) - len(written.lstrip())
        trimmed_end = end - (len(written) - len(written.rstrip()))
        if (trimmed_start, trimmed_end) != (snapped_start, snapped_end):
            reasons.append(f"{written!r} cuts a token: snapped to {text[snapped_start:snapped_end]!r}")
        spans.append((Span(covered[0], covered[-1] + 1, labels[0]), text[snapped_start:snapped_end]))
    spans.sort(key=lambda item: item[0].start)
    for (one, one_text), (other, other_text) in zip(spans, spans[1:]):
        if other.start < one.end:
            raise ValueError(f"{task}: regions {one_text!r} ({one.label}) and {other_text!r} ({other.label}) overlap")
    return tuple(span for span, _ in spans)


def _majority(annotations: Sequence[_Annotation]) -> tuple[Span, ...]:
    votes = Counter(span for a in annotations for span in a.spans)
    return tuple(sorted((s for s, n in votes.items() if n > len(annotations) / 2), key=lambda s: s.start))


def _lead_time(annotations: Sequence[Mapping[str, Any]]) -> float:
    times = [a.get("lead_time") for a in annotations]
    if not times or any(t is None for t in times):
        return math.nan
    return float(sum(times))


def load_export_file(path: str | Path) -> list[dict[str, Any]]:
    """A Label Studio JSON export file (Export > JSON); errors name the file and line."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"label_studio.import_path: {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} line {exc.lineno}: not JSON ({exc.msg})") from None


def _checked_task(
    item: Any, position: int, source: str, tokens_by_id: Mapping[int, Sequence[str]]
) -> tuple[int, TaskText]:
    """One exported task's name for errors, its sentence id and its text with token offsets, after
    checking it is a task of this project in Label Studio's JSON format."""
    task_id = item.get("id", f"#{position}") if isinstance(item, Mapping) else f"#{position}"
    task = f"{source}: task {task_id}"
    if not isinstance(item, Mapping) or not isinstance(item.get("data"), Mapping):
        raise ValueError(f"{task}: not a Label Studio task (no `data`)")
    if not isinstance(item.get("annotations"), list):
        raise ValueError(f"{task}: no `annotations` list -- export in Label Studio's JSON format (not JSON_MIN/CSV)")
    data = item["data"]
    if "sentence_id" not in data:
        raise ValueError(f"{task}: no data.sentence_id -- not a task this project exported")
    sentence_id = int(data["sentence_id"])
    if sentence_id not in tokens_by_id:
        raise ValueError(f"{task}: sentence {sentence_id} is not among the {len(tokens_by_id)} exported sentences")
    starts, ends = list(data["token_starts"]), list(data["token_ends"])
    if len(starts) != len(tokens_by_id[sentence_id]):
        raise ValueError(
            f"{task}: {len(starts)} token offsets for a sentence of {len(tokens_by_id[sentence_id])} tokens"
        )
    return sentence_id, TaskText(task, str(data["text"]), starts, ends)


def _submitted_annotations(
    item: Mapping[str, Any], sentence: TaskText, schema: LabelSchema, reasons: list[str]
) -> list[_Annotation]:
    """The task's annotations that were not cancelled, earliest first; snapped regions add a
    reason to ``reasons``."""
    return sorted(
        (
            _Annotation(
                (str(a.get("created_at") or ""), a.get("id") or 0),
                _spans(a, replace(sentence, task=f"{sentence.task} (annotation {a.get('id')})"), schema, reasons),
            )
            for a in item["annotations"]
            if not a.get("was_cancelled")
        ),
        key=lambda a: a.order,
    )


def _add_annotator_pairs(
    pairs: tuple[list[list[str]], list[list[str]]], submitted: Sequence[_Annotation], length: int
) -> None:
    """Every pair of the task's submitted annotations, as IOB2 tags, for the inter-annotator agreement."""
    for one, other in combinations(submitted, 2):
        pairs[0].append(spans_to_bio(one.spans, length))
        pairs[1].append(spans_to_bio(other.spans, length))


def _task_row(
    item: Mapping[str, Any],
    sentence_id: int,
    submitted: Sequence[_Annotation],
    reasons: list[str],
    rule: str,
    length: int,
) -> dict[str, Any]:
    """The row of one exported task: its status and, when labelled, the tags ``rule`` makes."""
    if submitted:
        status = "labelled"
        spans = submitted[0].spans if rule == "first" else _majority(submitted)
        tags = spans_to_bio(spans, length)
    else:
        status, tags = ("cancelled" if item["annotations"] else "unlabelled"), None
    return {
        "sentence_id": sentence_id,
        "task_id": item.get("id"),
        "status": status,
        "expert_tags": tags,
        "annotators": len(submitted),
        "cancelled": len(item["annotations"]) - len(submitted),
        "lead_time_s": _lead_time(item["annotations"]),
        "repaired": len(reasons),
        "repair_reasons": reasons,
    }


def _missing_row(sentence_id: int) -> dict[str, Any]:
    """The row of an exported sentence that is not in the export."""
    return {
        "sentence_id": sentence_id,
        "task_id": None,
        "status": "missing",
        "expert_tags": None,
        "annotators": 0,
        "cancelled": 0,
        "lead_time_s": math.nan,
        "repaired": 0,
        "repair_reasons": [],
    }


def _agreement(pairs: tuple[list[list[str]], list[list[str]]], schema: LabelSchema) -> float | None:
    """Micro entity F1 between annotators over every pair on every shared task."""
    # micro entity F1 is undefined when no annotator marked any entity on a shared task
    marked = any(tag != "O" for tags in pairs[0] + pairs[1] for tag in tags)
    return float(entity_scores(*pairs, types=schema.names).loc["micro", "f1"]) if marked else None


def read_export(
    export: Any,
    selection: pd.DataFrame,
    schema: LabelSchema,
    rule: str = "first",
    source: str = "the Label Studio export",
) -> ExpertAnnotations:
    """The expert tags of the ``selection``'s sentences (``sentence_id``, ``tokens``) in a Label
    Studio JSON export (a list of tasks, each with its ``annotations``); ``source`` names the file
    in errors."""
    if rule not in AGREEMENT_RULES:
        raise ValueError(f"label_studio.rule must be one of {list(AGREEMENT_RULES)}, got {rule!r}")
    if not isinstance(export, list):
        raise ValueError(f"{source}: not a Label Studio JSON export (a list of tasks); got {type(export).__name__}")
    tokens_by_id = dict(zip(selection["sentence_id"].astype(int), selection["tokens"]))
    rows, seen, pairs = [], {}, ([], [])
    for position, item in enumerate(export):
        sentence_id, sentence = _checked_task(item, position, source, tokens_by_id)
        if sentence_id in seen:
            raise ValueError(
                f"{sentence.task}: sentence {sentence_id} is also task {seen[sentence_id]}; import each task once"
            )
        seen[sentence_id] = item.get("id")
        reasons: list[str] = []
        submitted = _submitted_annotations(item, sentence, schema, reasons)
        _add_annotator_pairs(pairs, submitted, len(sentence.starts))
        rows.append(_task_row(item, sentence_id, submitted, reasons, rule, len(sentence.starts)))
    for sentence_id in tokens_by_id:
        if sentence_id not in seen:
            rows.append(_missing_row(sentence_id))
    agreement = _agreement(pairs, schema)
    sentences = pd.DataFrame(rows, columns=COLUMNS).sort_values("sentence_id").reset_index(drop=True)
    return ExpertAnnotations(sentences, agreement)
