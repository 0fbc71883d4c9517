"""CoNLL-2003 NER tags: the label set, BIO validation and repair, and spans <-> BIO.

Everything here works on plain lists of tag strings so that gold data, LLM output and
model predictions all go through the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

ENTITY_TYPES: tuple[str, ...] = ("PER", "ORG", "LOC", "MISC")
OUTSIDE = "O"
LABELS: tuple[str, ...] = (OUTSIDE,) + tuple(
    f"{prefix}-{etype}" for etype in ENTITY_TYPES for prefix in ("B", "I")
)
LABEL_TO_ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}


@dataclass(frozen=True)
class Span:
    """An entity over tokens ``start`` (inclusive) to ``end`` (exclusive)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_bio` changed in one tag sequence."""

    orphans_fixed: int = 0  # I-X that did not continue an X entity, turned into B-X
    unknown_tags: tuple[str, ...] = ()  # tags outside LABELS, turned into O

    @property
    def changed(self) -> bool:
        return bool(self.orphans_fixed or self.unknown_tags)


def is_known(tag: str) -> bool:
    return tag in LABEL_TO_ID


def unknown_tags(tags: Iterable[str]) -> list[str]:
    return [tag for tag in tags if not is_known(tag)]


def repair_bio(tags: Sequence[str]) -> tuple[list[str], RepairReport]:
    """Return valid IOB2 tags and a report of what was changed.

    * an ``I-X`` that does not follow ``B-X``/``I-X`` becomes ``B-X`` -- this is also exactly
      the IOB1 -> IOB2 conversion, since IOB1 starts entities with ``I-``;
    * a tag outside :data:`LABELS` (``[CLS]``, ``B-DATE``, ...) becomes ``O`` and is reported.
    """
    repaired: list[str] = []
    orphans = 0
    unknown: list[str] = []
    previous = OUTSIDE
    for tag in tags:
        if not is_known(tag):
            unknown.append(tag)
            tag = OUTSIDE
        elif tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
            orphans += 1
        repaired.append(tag)
        previous = tag
    return repaired, RepairReport(orphans_fixed=orphans, unknown_tags=tuple(unknown))


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans of a valid IOB2 sequence (run :func:`repair_bio` first on untrusted tags)."""
    spans: list[Span] = []
    start, label = None, None
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        continues = tag.startswith("I-") and label == tag[2:]
        if start is not None and not continues:
            spans.append(Span(start, i, label))
            start, label = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, label = i, tag[2:]
    return spans


def spans_to_bio(spans: Iterable[Span], length: int) -> list[str]:
    """IOB2 tags for ``length`` tokens; when spans overlap, the earlier-starting (then longer) one wins."""
    tags = [OUTSIDE] * length
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not 0 <= span.start < span.end <= length:
            raise ValueError(f"span {span} lies outside a sentence of {length} tokens")
        if span.label not in ENTITY_TYPES:
            raise ValueError(f"span label {span.label!r} is not one of {ENTITY_TYPES}")
        if any(tag != OUTSIDE for tag in tags[span.start : span.end]):
            continue
        tags[span.start] = f"B-{span.label}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label}"
    return tags
