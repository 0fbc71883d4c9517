"""Turn an LLM reply into valid IOB2 tags for the sentence's own tokens, and say what it took.

Replies come fenced, wrapped in prose, after chain-of-thought, with single quotes, trailing commas
or cut off by the token limit. We take strict JSON where there is some and repair it (json-repair)
only where there is none. Every sentence ends with a status:

* ``ok`` -- parsed and aligned without any fix;
* ``repaired`` -- usable after fixes, listed in ``reasons`` (e.g. ``json_repaired``,
  ``length_mismatch``, ``invalid_tag``, ``fuzzy_match``, ``unaligned_entity``, ``bio_repaired``);
* ``failed`` -- nothing usable (``empty_reply``, ``no_json``, ``wrong_shape``, ``api_error``).
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import json_repair

from ..tags import LABELS, OUTSIDE, Span, bio_to_spans, repair_bio, spans_to_bio
from .alignment import find_mention

STATUSES = ("ok", "repaired", "failed")
TYPE_ALIASES = {
    "PER": "PER", "PERSON": "PER", "PERSONS": "PER", "PEOPLE": "PER",
    "ORG": "ORG", "ORGANIZATION": "ORG", "ORGANISATION": "ORG", "ORGANIZATIONS": "ORG",
    "LOC": "LOC", "LOCATION": "LOC", "LOCATIONS": "LOC", "GPE": "LOC",
    "MISC": "MISC", "MISCELLANEOUS": "MISC",
}
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


@dataclass
class SentenceLabels:
    tags: list[str] | None  # None only when failed
    status: str
    reasons: Counter = field(default_factory=Counter)
    entities: list[tuple[str, str]] = field(default_factory=list)  # (type, mention) as understood, for self-verification

    @property
    def reason_text(self) -> str:
        return ";".join(f"{name}:{count}" if count > 1 else name for name, count in sorted(self.reasons.items()))


def failed(reason: str) -> SentenceLabels:
    return SentenceLabels(None, "failed", Counter({reason: 1}))


def _strict_json_values(text: str) -> list[Any]:
    """Every JSON object/array that parses strictly, scanning from each opening bracket."""
    decoder = json.JSONDecoder()
    values, position = [], 0
    while True:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return values
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        values.append(value)
        position = end


def extract_json(text: str, accept: Callable[[Any], bool]) -> tuple[Any, bool] | None:
    """The last acceptable JSON value in ``text`` and whether it needed repair; None if there is none.

    The last one wins because chain-of-thought replies restate partial results before the final one.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        good = [v for v in _strict_json_values(candidate) if accept(v)]
        if good:
            return good[-1], False
    for candidate in candidates:
        start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
        if start < 0:
            continue
        try:
            value = json_repair.loads(candidate[start:])
        except Exception:  # json-repair gives up on some inputs by raising; that is just "no JSON"
            continue
        if isinstance(value, list) and value and not accept(value):
            value = next((v for v in reversed(value) if accept(v)), value)
        if accept(value):
            return value, True
    return None


# ---- span replies: {"PER": [...], "ORG": [...], ...} or [{"text": ..., "type": ...}, ...]

def _entity_type(name: Any) -> str | None:
    return TYPE_ALIASES.get(str(name).strip().upper())


def _looks_like_spans(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_entity_type(k) for k in value) or not value
    if isinstance(value, list):
        return all(isinstance(v, dict) for v in value)
    return False


def _mentions(value: Any) -> tuple[list[tuple[str, str]], int]:
    """(type, mention) pairs and how many entries had a type outside the four CoNLL types."""
    pairs, unknown = [], 0
    if isinstance(value, dict):
        items = value.items()
    else:
        items = []
        for entry in value:
            text = next((entry[k] for k in ("text", "entity", "name", "mention", "span") if k in entry), None)
            label = next((entry[k] for k in ("type", "label", "category", "tag") if k in entry), None)
            items.append((label, [text] if text is not None else []))
    for label, mentions in items:
        etype = _entity_type(label)
        if isinstance(mentions, (str, int, float)):
            mentions = [mentions]
        if not isinstance(mentions, list):
            continue
        mentions = [str(m) for m in mentions if isinstance(m, (str, int, float)) and str(m).strip()]
        if etype is None:
            unknown += len(mentions)
            continue
        pairs.extend((etype, m) for m in mentions)
    return pairs, unknown


def tags_from_mentions(tokens: Sequence[str], mentions: Sequence[tuple[str, str]], fuzzy_threshold: float) -> tuple[list[str], Counter]:
    reasons: Counter = Counter()
    spans: list[Span] = []
    for etype, mention in mentions:
        match = find_mention(tokens, mention, fuzzy_threshold)
        if match.kind is None:
            reasons["unaligned_entity"] += 1  # hallucinated, or too far from any token window
            continue
        if match.kind == "fuzzy":
            reasons["fuzzy_match"] += 1
        spans.extend(Span(start, end, etype) for start, end in match.windows)
    tags = spans_to_bio(spans, len(tokens))
    return tags, reasons


def labels_from_span_reply(text: str, tokens: Sequence[str], fuzzy_threshold: float = 85.0) -> SentenceLabels:
    if not text or not text.strip():
        return failed("empty_reply")
    found = extract_json(text, _looks_like_spans)
    if found is None:
        return failed("no_json")
    value, repaired = found
    mentions, unknown = _mentions(value)
    tags, reasons = tags_from_mentions(tokens, mentions, fuzzy_threshold)
    if repaired:
        reasons["json_repaired"] += 1
    if unknown:
        reasons["unknown_type"] += unknown
    return SentenceLabels(tags, "repaired" if reasons else "ok", reasons, list(mentions))


# ---- token replies: {"ner_tags": [...], "tokens": [...]} with tag names or the seed's tag ids

_TAG_KEYS = ("ner_tags", "tags", "labels", "ner")


def _looks_like_tokens(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(value.get(k), list) for k in _TAG_KEYS)


def _tag_name(tag: Any) -> str:
    if isinstance(tag, bool):
        return str(tag)
    if isinstance(tag, int) or (isinstance(tag, str) and tag.strip().isdigit()):
        index = int(tag)
        return LABELS[index] if 0 <= index < len(LABELS) else str(tag)
    return str(tag).strip()


def _realign(reply_tokens: Sequence[str], reply_tags: Sequence[str], tokens: Sequence[str]) -> list[str]:
    """Carry tags over from the reply's token list to the real tokens where the tokens agree."""
    tags = [OUTSIDE] * len(tokens)
    matcher = difflib.SequenceMatcher(a=[str(t) for t in reply_tokens], b=list(tokens), autojunk=False)
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            tags[block.b + offset] = reply_tags[block.a + offset]
    return tags


def labels_from_token_reply(text: str, tokens: Sequence[str]) -> SentenceLabels:
    if not text or not text.strip():
        return failed("empty_reply")
    found = extract_json(text, _looks_like_tokens)
    if found is None:
        return failed("no_json")
    value, repaired = found
    reasons: Counter = Counter({"json_repaired": 1} if repaired else {})
    raw_tags = next(value[k] for k in _TAG_KEYS if isinstance(value.get(k), list))
    tags = [_tag_name(t) for t in raw_tags]
    if len(tags) != len(tokens):
        reasons["length_mismatch"] += 1
        reply_tokens = value.get("tokens")
        if isinstance(reply_tokens, list) and len(reply_tokens) == len(tags):
            tags = _realign(reply_tokens, tags, tokens)
        else:  # no usable token list: keep the prefix, pad with O
            tags = (tags + [OUTSIDE] * len(tokens))[: len(tokens)]
    tags, report = repair_bio(tags)
    if report.unknown_tags:
        reasons["invalid_tag"] += len(report.unknown_tags)
    if report.orphans_fixed:
        reasons["bio_repaired"] += report.orphans_fixed
    return SentenceLabels(tags, "repaired" if reasons else "ok", reasons, entities_of(tokens, tags))


def entities_of(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    return [(s.label, " ".join(tokens[s.start : s.end])) for s in bio_to_spans(tags)]


REPLY_PARSERS: dict[str, Callable[..., SentenceLabels]] = {
    "tokens": lambda text, tokens, fuzzy_threshold=85.0: labels_from_token_reply(text, tokens),
    "spans": labels_from_span_reply,
}


# ---- self-verification replies: one yes/no per candidate entity

def verdicts_from_reply(text: str, n_candidates: int) -> list[bool] | None:
    """A keep/reject flag per candidate, or None when the reply cannot be read (then keep all)."""
    def accept(value: Any) -> bool:
        return isinstance(value, list) and len(value) == n_candidates

    found = extract_json(text or "", accept)
    if found is None:
        return None
    flags = []
    for verdict in found[0]:
        if isinstance(verdict, dict):
            verdict = next(iter(verdict.values()), True)
        flags.append(verdict is True or str(verdict).strip().lower() in ("yes", "true", "y", "1", "correct"))
    return flags
