"""Turn an LLM reply into valid IOB2 tags for the sentence's own tokens, and say what it took.

Replies come fenced, wrapped in prose, after chain-of-thought, with single quotes, trailing commas
or cut off by the token limit. We take strict JSON where there is some and repair it (json-repair)
only where there is none. Every sentence ends with a status:

* ``ok`` -- parsed and aligned without any fix;
* ``repaired`` -- usable after fixes, listed in ``reasons`` (e.g. ``json_repaired``,
  ``length_mismatch``, ``invalid_tag``, ``unknown_type`` (a mention of a type outside the label
  schema, dropped), ``casefold_match``, ``fuzzy_match``, ``unaligned_entity``, ``bio_repaired``);
* ``failed`` -- nothing usable (``empty_reply``, ``no_json``, ``api_error:<type>``,
  ``parse_error:<type>``).
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import json_repair

from ..tags import CONLL_2003, OUTSIDE, LabelSchema, Span, bio_to_spans, repair_bio, spans_to_bio
from .alignment import find_mention

STATUSES = ("ok", "repaired", "failed")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
# Small models continue a few-shot prompt with an invented next example; nothing after it is an answer.
_INVENTED_CONTINUATION = re.compile(r"\n\s*Sentence\s*:", re.IGNORECASE)


@dataclass
class SentenceLabels:
    tags: list[str] | None  # None only when failed
    status: str
    reasons: Counter = field(default_factory=Counter)
    entities: list[tuple[str, str]] = field(
        default_factory=list
    )  # (type, mention) as understood, for self-verification
    value_span: tuple[int, int] | None = None  # characters of the reply that held the answer

    @property
    def reason_text(self) -> str:
        return ";".join(f"{name}:{count}" if count > 1 else name for name, count in sorted(self.reasons.items()))


def failed(reason: str) -> SentenceLabels:
    return SentenceLabels(None, "failed", Counter({reason: 1}))


@dataclass(frozen=True)
class ReplyValue:
    value: Any
    repaired: bool  # needed json-repair
    start: int  # character offsets of the value in the reply
    end: int


def _strict_json_values(text: str, offset: int = 0) -> list[tuple[Any, int, int]]:
    """Every JSON object/array that parses strictly, scanning from each opening bracket, with offsets."""
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
        values.append((value, offset + start, offset + end))
        position = end


def _first_bracket(text: str) -> int:
    return min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)


def _answer_regions(text: str, result_marker: str | None) -> list[tuple[int, str]]:
    """(offset, text) regions to search, in order of preference, each cut before an invented next
    ``Sentence:`` that follows its first bracket (nothing after that is an answer to our sentence).

    With a ``result_marker`` (chain-of-thought: ``Result:``) the text after each marker comes
    first, since reasoning may quote partial answers. Otherwise fenced blocks, then the reply.
    """
    regions = []
    if result_marker:
        index = text.find(result_marker)
        while index >= 0:
            start = index + len(result_marker)
            regions.append((start, text[start:]))
            index = text.find(result_marker, start)
    regions += [(m.start(1), m.group(1)) for m in _FENCE.finditer(text)]
    regions.append((0, text))
    cut_regions = []
    for offset, region in regions:
        first_bracket = _first_bracket(region)
        cut = _INVENTED_CONTINUATION.search(region, first_bracket) if first_bracket >= 0 else None
        cut_regions.append((offset, region[: cut.start()] if cut else region))
    return cut_regions


def extract_json(text: str, accept: Callable[[Any], bool], result_marker: str | None = None) -> ReplyValue | None:
    """The first acceptable JSON value of the reply (after ``result_marker`` when there is one).

    The first wins: chatty models append invented examples or remarks ("other lists are empty:
    []") after their answer. Strict JSON is preferred; json-repair is tried only when no region
    holds any.
    """
    regions = _answer_regions(text, result_marker)
    for offset, region in regions:
        for value, start, end in _strict_json_values(region, offset):
            if accept(value):
                return ReplyValue(value, False, start, end)
    for offset, region in regions:
        start = _first_bracket(region)
        if start < 0:
            continue
        candidate = region[start:]
        try:
            value = json_repair.loads(candidate)
        except Exception:  # json-repair gives up on some inputs by raising; that is just "no JSON"
            continue
        if isinstance(value, list) and value and not accept(value):
            value = next((v for v in value if accept(v)), value)
        if accept(value):
            return ReplyValue(value, True, offset + start, offset + start + len(candidate))
    return None


# ---- span replies: {"PER": [...], ...}, [{"text": ..., "type": ...}], [["EU", "ORG"]], {"EU": "ORG"}

_TEXT_KEYS = ("text", "mention", "entity", "name", "span", "word")
_TYPE_KEYS = ("type", "label", "entity_type", "category", "tag", "entity_group")


def _unwrap(value: Any) -> Any:
    """``{"entities": ...}`` -> its content (any letter case)."""
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if str(key).strip().lower() in ("entities", "named_entities", "result", "ner"):
            return inner
    return value


def _entry_pair(entry: Any, schema: LabelSchema) -> tuple[Any, Any] | None:
    """(type, mention) from one list entry: an object with text/type keys, or a two-item list."""
    if isinstance(entry, dict):
        keys = {str(k).lower(): v for k, v in entry.items()}
        text = next((keys[k] for k in _TEXT_KEYS if k in keys), None)
        label = next((keys[k] for k in _TYPE_KEYS if k in keys), None)
        return (label, text) if text is not None and label is not None else None
    if isinstance(entry, (list, tuple)) and len(entry) == 2:
        first, second = entry
        return (first, second) if schema.type_of(first) and not schema.type_of(second) else (second, first)
    return None


def _span_items(value: Any, schema: LabelSchema) -> list[tuple[Any, Any]] | None:
    """(type, mention-or-list) items of a span reply, or None when ``value`` is not one.

    An empty list is not a span reply (it answers nothing); an empty object is "no entities".
    """
    value = _unwrap(value)
    if isinstance(value, dict):
        if not value or any(schema.type_of(k) for k in value):
            return list(value.items())
        if all(schema.type_of(v) for v in value.values()):  # {"EU": "ORG"}
            return [(label, mention) for mention, label in value.items()]
        return None
    if isinstance(value, list) and value:
        pairs = [_entry_pair(entry, schema) for entry in value]
        return pairs if all(p is not None for p in pairs) else None
    return None


def _mentions(value: Any, schema: LabelSchema) -> tuple[list[tuple[str, str]], int]:
    """(type, mention) pairs and how many mentions had a type outside the schema (nor an alias)."""
    pairs, unknown = [], 0
    for label, mentions in _span_items(value, schema) or []:
        etype = schema.type_of(label)
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


def tags_from_mentions(
    tokens: Sequence[str], mentions: Sequence[tuple[str, str]], fuzzy_threshold: float
) -> tuple[list[str], Counter]:
    reasons: Counter = Counter()
    spans: list[Span] = []
    for etype, mention in mentions:
        match = find_mention(tokens, mention, fuzzy_threshold)
        if match.kind is None:
            reasons["unaligned_entity"] += 1  # hallucinated, or too far from any token window
            continue
        if match.kind != "exact":  # the mention was not copied exactly: a fix, so the sentence is "repaired"
            reasons[f"{match.kind}_match"] += 1
        spans.extend(Span(start, end, etype) for start, end in match.windows)
    tags = spans_to_bio(spans, len(tokens))
    return tags, reasons


def labels_from_span_reply(
    text: str,
    tokens: Sequence[str],
    fuzzy_threshold: float = 85.0,
    result_marker: str | None = None,
    schema: LabelSchema = CONLL_2003,
) -> SentenceLabels:
    if not text or not text.strip():
        return failed("empty_reply")
    found = extract_json(text, lambda value: _span_items(value, schema) is not None, result_marker)
    if found is None:
        return failed("no_json")
    mentions, unknown = _mentions(found.value, schema)
    tags, reasons = tags_from_mentions(tokens, mentions, fuzzy_threshold)
    if found.repaired:
        reasons["json_repaired"] += 1
    if unknown:
        reasons["unknown_type"] += unknown
    return SentenceLabels(tags, "repaired" if reasons else "ok", reasons, list(mentions), (found.start, found.end))


# ---- token replies: {"ner_tags": [...], "tokens": [...]} with tag names or the seed's tag ids

_TAG_KEYS = ("ner_tags", "tags", "labels", "ner")


def _looks_like_tokens(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(value.get(k), list) for k in _TAG_KEYS)


def _tag_name(tag: Any, labels: Sequence[str]) -> str:
    if isinstance(tag, bool):
        return str(tag)
    if isinstance(tag, int) or (isinstance(tag, str) and tag.strip().isdigit()):
        index = int(tag)
        return labels[index] if 0 <= index < len(labels) else str(tag)
    return str(tag).strip()


def _realign(reply_tokens: Sequence[str], reply_tags: Sequence[str], tokens: Sequence[str]) -> list[str]:
    """Carry tags over from the reply's token list to the real tokens where the tokens agree."""
    tags = [OUTSIDE] * len(tokens)
    matcher = difflib.SequenceMatcher(a=[str(t) for t in reply_tokens], b=list(tokens), autojunk=False)
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            tags[block.b + offset] = reply_tags[block.a + offset]
    return tags


def labels_from_token_reply(
    text: str,
    tokens: Sequence[str],
    fuzzy_threshold: float = 85.0,
    result_marker: str | None = None,
    schema: LabelSchema = CONLL_2003,
) -> SentenceLabels:
    if not text or not text.strip():
        return failed("empty_reply")
    found = extract_json(text, _looks_like_tokens, result_marker)
    if found is None:
        return failed("no_json")
    value = found.value
    reasons: Counter = Counter({"json_repaired": 1} if found.repaired else {})
    raw_tags = next(value[k] for k in _TAG_KEYS if isinstance(value.get(k), list))
    tags = [_tag_name(t, schema.labels) for t in raw_tags]
    if len(tags) != len(tokens):
        reasons["length_mismatch"] += 1
        reply_tokens = value.get("tokens")
        if isinstance(reply_tokens, list) and len(reply_tokens) == len(tags):
            tags = _realign(reply_tokens, tags, tokens)
        else:  # no usable token list: keep the prefix, pad with O
            tags = (tags + [OUTSIDE] * len(tokens))[: len(tokens)]
    tags, report = repair_bio(tags, schema)
    if report.unknown_tags:
        reasons["invalid_tag"] += len(report.unknown_tags)
    if report.orphans_fixed:
        reasons["bio_repaired"] += report.orphans_fixed
    return SentenceLabels(
        tags, "repaired" if reasons else "ok", reasons, entities_of(tokens, tags), (found.start, found.end)
    )


def entities_of(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    return [(s.label, " ".join(tokens[s.start : s.end])) for s in bio_to_spans(tags)]


# reply kind -> parser(text, tokens, fuzzy_threshold, result_marker, schema)
REPLY_PARSERS: dict[str, Callable[..., SentenceLabels]] = {
    "tokens": labels_from_token_reply,
    "spans": labels_from_span_reply,
}


# ---- self-verification replies: one yes/no per candidate entity

_YES = {"yes", "y", "true", "1", "correct", "keep", "valid"}
_NO = {"no", "n", "false", "0", "incorrect", "wrong", "reject", "invalid"}


def _verdict(verdict: Any) -> bool | None:
    """``"Yes."``, ``"yes, it is"``, ``true``, ``1`` -> True; the negatives -> False; else None."""
    if isinstance(verdict, bool):
        return verdict
    if isinstance(verdict, (int, float)):
        return bool(verdict) if verdict in (0, 1) else None
    if isinstance(verdict, dict):
        return _verdict(next(iter(verdict.values()), None))
    words = re.findall(r"[a-z0-9]+", str(verdict).lower())
    if words and words[0] in _YES:
        return True
    if words and words[0] in _NO:
        return False
    return None


def verdicts_from_reply(text: str, n_candidates: int) -> list[bool] | None:
    """A keep/reject flag per candidate, or None when the reply cannot be read (then keep all).

    A single verdict that cannot be read keeps its entity: only a clear "no" removes a label.
    """

    def accept(value: Any) -> bool:
        return isinstance(value, list) and len(value) == n_candidates

    found = extract_json(text or "", accept)
    if found is None:
        return None
    return [_verdict(v) is not False for v in found.value]
