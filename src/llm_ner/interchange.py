"""Labels exchanged with the NER tools people already have: spaCy/Prodigy span JSONL and CoNLL.

A span record is one sentence of the raw-text route's sentence table (:func:`llm_ner.documents.segment`)
in the format Prodigy's ``db-out`` writes and spaCy's converters read::

    {"text": "Anna flew to Zürich.",
     "tokens": [{"text": "Anna", "start": 0, "end": 4, "id": 0}, ...],
     "spans": [{"start": 13, "end": 19, "token_start": 3, "token_end": 3, "label": "LOC", "text": "Zürich"}],
     "meta": {"document_id": "report", "sentence_id": 7, "offset": 120}}

Character offsets are relative to the record's ``text`` (Prodigy's convention) and ``token_end`` is
the index of the span's last token (inclusive, also Prodigy's); ``meta.offset`` is where the
sentence starts in its document, so ``document[offset + start : offset + end]`` is the span as
written. ``meta.document_id`` and ``meta.offset`` are what brings a record back to its sentence
when gold labels come back from such a tool (:func:`tags_from_span_records`).

CoNLL goes through :mod:`llm_ner.conll`'s writer, so what :func:`conll_text` writes its reader reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .conll import DOCSTART, format_conll
from .label_studio.annotations import TaskText  # tokens_of: the one rule for character span -> tokens
from .tags import LabelSchema, Span, bio_to_spans, spans_to_bio

logger = logging.getLogger(__name__)

META_KEYS = ("document_id", "sentence_id", "offset")  # what span_records writes in every record's meta
IMPORT_COLUMNS = ("sentence_id", "gold_tags", "repaired")


class InterchangeError(ValueError):
    """A span file or record that cannot be read as labels: the message names the file and line."""


# --- export -------------------------------------------------------------------------------------


def _checked_tag_count(sentences: pd.DataFrame, tags: Sequence[Sequence[str]]) -> None:
    """One tag list per sentence and one tag per token -- zip would silently cut either short."""
    if len(tags) != len(sentences):
        raise ValueError(f"{len(tags)} tag lists for {len(sentences)} sentences")
    for sentence_id, tokens, sentence_tags in zip(sentences["sentence_id"], sentences["tokens"], tags):
        if len(sentence_tags) != len(tokens):
            raise ValueError(f"sentence {sentence_id}: {len(sentence_tags)} tags for {len(tokens)} tokens")


def _span_record(sentence: Any, tags: Sequence[str], meta: Mapping[str, Any]) -> dict[str, Any]:
    """One sentence (a row of the sentence table) and its IOB2 tags as a span record."""
    offset = int(sentence.start)
    # the table's token offsets are in the document; a record's are in its own text
    starts = [int(s) - offset for s in sentence.token_starts]
    ends = [int(e) - offset for e in sentence.token_ends]
    tokens = [
        {"text": text, "start": start, "end": end, "id": i}
        for i, (text, start, end) in enumerate(zip(sentence.tokens, starts, ends))
    ]
    spans = [
        {
            "start": starts[span.start],
            "end": ends[span.end - 1],
            "token_start": span.start,
            "token_end": span.end - 1,  # Span.end is exclusive, Prodigy's token_end is not
            "label": span.label,
            "text": sentence.text[starts[span.start] : ends[span.end - 1]],
        }
        for span in bio_to_spans(tags)
    ]
    place = {"document_id": str(sentence.document_id), "sentence_id": int(sentence.sentence_id), "offset": offset}
    return {"text": sentence.text, "tokens": tokens, "spans": spans, "meta": {**place, **meta}}


def span_records(
    sentences: pd.DataFrame, tags: Sequence[Sequence[str]], meta: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One spaCy/Prodigy span record per sentence of the sentence table, its entities read from
    its IOB2 ``tags`` the way :func:`llm_ner.tags.bio_to_spans` reads them (an ``I-`` without a
    ``B-`` opens an entity); ``meta`` is added to every record's ``meta``."""
    meta = dict(meta or {})
    clashing = sorted(set(meta) & set(META_KEYS))
    if clashing:
        # these keys are how a record finds its sentence again: another value would lose it
        raise ValueError(f"meta may not set {clashing}: every record's own {list(META_KEYS)} go there")
    _checked_tag_count(sentences, tags)
    return [
        _span_record(sentence, sentence_tags, meta)
        for sentence, sentence_tags in zip(sentences.itertuples(index=False), tags)
    ]


def _checked_conll_tokens(sentences: pd.DataFrame) -> None:
    """Every token is one CoNLL column: a token the reader would split, or take for a document
    break, would come back as other tokens."""
    for sentence_id, tokens in zip(sentences["sentence_id"], sentences["tokens"]):
        for token in tokens:
            if token.split() != [token] or token == DOCSTART:
                raise InterchangeError(f"sentence {sentence_id}: the token {token!r} cannot be written as CoNLL")


def conll_text(sentences: pd.DataFrame, tags: Sequence[Sequence[str]]) -> str:
    """The sentences as CoNLL text (``token tag`` lines, a blank line after each sentence,
    ``-DOCSTART-`` wherever ``document_id`` changes), written by :func:`llm_ner.conll.format_conll`
    so that :func:`llm_ner.conll.parse_conll` reads back the same tokens and tags."""
    _checked_tag_count(sentences, tags)
    _checked_conll_tokens(sentences)
    table = pd.DataFrame(
        {
            "sentence_id": list(sentences["sentence_id"]),
            "document_id": list(sentences["document_id"]),
            "tokens": [list(tokens) for tokens in sentences["tokens"]],
            "ner_tags": [list(sentence_tags) for sentence_tags in tags],
        }
    )
    return format_conll(table)


# --- files --------------------------------------------------------------------------------------


def write_span_jsonl(records: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Span records as JSONL: UTF-8, one JSON object per line, non-ASCII text as written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    path.write_text("".join(lines), encoding="utf-8", newline="\n")


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not an offset


def _checked_span(span: Any, text: str, where: str) -> None:
    """A span is a JSON object with integer offsets inside the text and a label."""
    if not isinstance(span, Mapping):
        raise InterchangeError(f"{where}: a span must be a JSON object, got {span!r}")
    if not (_is_integer(span.get("start")) and _is_integer(span.get("end"))):
        raise InterchangeError(f'{where}: a span needs integer "start" and "end", got {span!r}')
    if not isinstance(span.get("label"), str) or not span["label"]:
        raise InterchangeError(f'{where}: a span needs a "label", got {span!r}')
    if not 0 <= span["start"] < span["end"] <= len(text):
        raise InterchangeError(
            f"{where}: span {span['start']}-{span['end']} ({span['label']}) is not inside the "
            f"{len(text)} characters of the text, or is empty"
        )


def _checked_record(record: Any, where: str) -> None:
    """A record has a text and a list of valid spans (``spans`` may be left out: no entity)."""
    if not isinstance(record, Mapping):
        raise InterchangeError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("text"), str):
        raise InterchangeError(f'{where}: no "text" string')
    spans = record.get("spans", [])
    if not isinstance(spans, list):
        raise InterchangeError(f'{where}: "spans" must be a list, got {type(spans).__name__}')
    for span in spans:
        _checked_span(span, record["text"], where)


def read_span_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The span records of a JSONL file, each checked (:class:`InterchangeError` names the file
    and line); blank lines are skipped."""
    path = Path(path)
    try:
        content = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InterchangeError(f"{path}: not UTF-8 at byte {error.start} ({error.reason})") from None
    records = []
    # only "\n" ends a JSON line: str.splitlines would also cut at U+2028 or U+0085, which
    # ensure_ascii=False leaves unescaped inside a sentence's text
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InterchangeError(f"{where}: not JSON ({error.msg} at column {error.colno})") from None
        _checked_record(record, where)
        records.append(record)
    return records


# --- import -------------------------------------------------------------------------------------


def _first_difference(one: str, other: str) -> int:
    return next((i for i, (a, b) in enumerate(zip(one, other)) if a != b), min(len(one), len(other)))


def _sentence_of(record: Mapping[str, Any], sentences_by_place: Mapping[tuple[str, int], Any], where: str) -> Any:
    """The sentence table's row that the record labels: same document, starting at ``meta.offset``,
    with the same text."""
    meta = record.get("meta")
    if not isinstance(meta, Mapping) or "document_id" not in meta or not _is_integer(meta.get("offset")):
        raise InterchangeError(
            f'{where}: no "meta" with "document_id" and an integer "offset" -- not a sentence of this run\'s documents'
        )
    document_id, offset = str(meta["document_id"]), meta["offset"]
    sentence = sentences_by_place.get((document_id, offset))
    if sentence is None:
        raise InterchangeError(f"{where}: no sentence of document {document_id!r} starts at character {offset}")
    if record["text"] != sentence.text:
        at = _first_difference(record["text"], sentence.text)
        raise InterchangeError(
            f"{where}: the text differs from sentence {sentence.sentence_id} of document {document_id!r} "
            f"at character {at}: {record['text'][at : at + 20]!r} instead of {sentence.text[at : at + 20]!r}"
        )
    return sentence


def _token_span(span: Mapping[str, Any], sentence: TaskText) -> tuple[Span | None, bool]:
    """The tokens a character span overlaps (None: it covers none) and whether it had to be
    snapped -- it cut a token or covered none. Whitespace at its edges is not a cut."""
    start, end = span["start"], span["end"]
    covered = sentence.tokens_of(start, end)
    if not covered:
        return None, True
    written = sentence.text[start:end]
    trimmed = (start + len(written) - len(written.lstrip()), end - (len(written) - len(written.rstrip())))
    snapped = (sentence.starts[covered[0]], sentence.ends[covered[-1]])
    return Span(covered[0], covered[-1] + 1, span["label"]), trimmed != snapped


def _checked_no_overlap(spans: Iterable[Span], sentence: TaskText, where: str) -> list[Span]:
    """The token spans, in order; two that overlap are an error (IOB2 cannot hold both, and
    dropping one would lose a label without saying so)."""
    ordered = sorted(set(spans), key=lambda s: (s.start, s.end, s.label))
    for one, other in zip(ordered, ordered[1:]):
        if other.start < one.end:
            one_text = sentence.text[sentence.starts[one.start] : sentence.ends[one.end - 1]]
            other_text = sentence.text[sentence.starts[other.start] : sentence.ends[other.end - 1]]
            raise InterchangeError(
                f"{where}: spans {one_text!r} ({one.label}) and {other_text!r} ({other.label}) overlap"
            )
    return ordered


def _record_spans(record: Mapping[str, Any], sentence: Any, schema: LabelSchema, where: str) -> tuple[list[Span], int]:
    """The record's spans as token spans of its sentence, and how many had to be snapped."""
    offset = int(sentence.start)
    # the record's offsets are relative to its text, which is the sentence's: tokens likewise
    sentence_tokens = TaskText(
        where,
        sentence.text,
        [int(s) - offset for s in sentence.token_starts],
        [int(e) - offset for e in sentence.token_ends],
    )
    spans, snapped = [], 0
    for span in record.get("spans", []):
        if span["label"] not in schema.names:
            raise InterchangeError(
                f"{where}: label {span['label']!r} is not one of the entity types {schema.describe()}"
            )
        token_span, was_snapped = _token_span(span, sentence_tokens)
        snapped += was_snapped
        if token_span is not None:
            spans.append(token_span)
    return _checked_no_overlap(spans, sentence_tokens, where), snapped


def _is_accepted(record: Mapping[str, Any]) -> bool:
    """Prodigy marks what the annotator rejected or skipped; only accepted records (or records
    without an ``answer``) are labels."""
    return record.get("answer", "accept") == "accept"


def tags_from_span_records(
    records: Sequence[Mapping[str, Any]], sentences: pd.DataFrame, schema: LabelSchema, source: str
) -> pd.DataFrame:
    """Gold IOB2 tags from span records, aligned to the sentence table: columns ``sentence_id``,
    ``gold_tags`` and ``repaired`` (spans snapped to token boundaries), one row per accepted
    record, in record order.

    A record finds its sentence by ``meta.document_id`` and ``meta.offset`` (the sentence's
    ``start``) and must have its text. Errors name ``source`` and the line (the record's position,
    from 1): a record that matches no sentence or whose text differs, two records for one sentence
    (both lines), a label outside ``schema``, overlapping spans. Records Prodigy marks ``reject``
    or ``ignore`` are not labels and are left out."""
    sentences_by_place = {(str(row.document_id), int(row.start)): row for row in sentences.itertuples(index=False)}
    rows, line_of_sentence, left_out = [], {}, 0
    for number, record in enumerate(records, start=1):
        where = f"{source}, line {number}"
        _checked_record(record, where)  # records need not have come through read_span_jsonl
        if not _is_accepted(record):
            left_out += 1
            continue
        sentence = _sentence_of(record, sentences_by_place, where)
        sentence_id = int(sentence.sentence_id)
        if sentence_id in line_of_sentence:
            raise InterchangeError(
                f"{source}, lines {line_of_sentence[sentence_id]} and {number}: both label sentence {sentence_id}; "
                "give each sentence once"
            )
        line_of_sentence[sentence_id] = number
        spans, snapped = _record_spans(record, sentence, schema, where)
        rows.append((sentence_id, spans_to_bio(spans, len(sentence.tokens)), snapped))
    if left_out:
        logger.info("%s: %d records rejected or ignored in the annotation tool were left out", source, left_out)
    return pd.DataFrame(rows, columns=list(IMPORT_COLUMNS))
