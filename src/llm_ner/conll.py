"""Reading and writing CoNLL-format corpora.

Accepted input: one token per line with 4 columns (``token POS chunk NER``, as in CoNLL-2003) or
2 columns (``token NER``), sentences separated by blank lines (runs of blank lines count as one),
``-DOCSTART-`` lines opening a new document. IOB1 tags are normalised to IOB2.

A sentence table (what the rest of the project passes around) is a DataFrame with one row per
sentence: ``sentence_id, document_id, tokens, pos_tags, chunk_tags, ner_tags`` -- the last four
are lists of strings; ``pos_tags``/``chunk_tags`` are ``None`` for 2-column input. Freshly read, it
also says where each sentence came from (``first_line``, and ``attrs["source"]``), so that a tag
outside the run's entity types can be reported by file and line (:func:`check_entity_types`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from .tags import LabelSchema, is_iob, repair_bio

logger = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"
SENTENCE_COLUMNS = ("sentence_id", "document_id", "tokens", "pos_tags", "chunk_tags", "ner_tags")
UnknownTagPolicy = Literal["raise", "keep"]


class ConllFormatError(ValueError):
    """Malformed CoNLL input; the message names the file and the 1-based line."""

    def __init__(self, source: str, line: int | None, problem: str):
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}")
        self.source, self.line, self.problem = source, line, problem


@dataclass
class Sentence:
    tokens: list[str] = field(default_factory=list)
    ner_tags: list[str] = field(default_factory=list)
    pos_tags: list[str] | None = None
    chunk_tags: list[str] | None = None
    document_id: int = 0
    first_line: int = 0  # where the sentence starts in its file, for error messages


class _SentenceCollector:
    """The sentences read so far: tokens go to the open sentence, which a blank line or a
    ``-DOCSTART-`` line closes."""

    def __init__(self) -> None:
        self.sentences: list[Sentence] = []
        self.document_id = 0
        self.seen_docstart = False
        self.current: Sentence | None = None

    def close(self) -> None:
        if self.current is not None and self.current.tokens:
            self.sentences.append(self.current)
        self.current = None

    def start_document(self) -> None:
        self.close()
        self.document_id += 1 if self.seen_docstart else 0
        self.seen_docstart = True

    def add_token(self, columns: list[str], line_no: int) -> None:
        """One token line (2 or 4 columns, already checked) added to the open sentence."""
        four_columns = len(columns) == 4
        if self.current is None:
            self.current = Sentence(document_id=self.document_id, first_line=line_no)
            if four_columns:
                self.current.pos_tags, self.current.chunk_tags = [], []
        self.current.tokens.append(columns[0])
        self.current.ner_tags.append(columns[-1])
        if four_columns:
            self.current.pos_tags.append(columns[1])
            self.current.chunk_tags.append(columns[2])


def _checked_column_count(columns: list[str], n_columns: int | None, source: str, line_no: int, raw: str) -> int:
    """The file's column count: set by its first token line (2 or 4), which every later one must match."""
    if n_columns is None:
        if len(columns) not in (2, 4):
            raise ConllFormatError(
                source,
                line_no,
                f"expected 2 columns (token NER) or 4 (token POS chunk NER), found {len(columns)}: {raw.rstrip()!r}",
            )
        return len(columns)
    if len(columns) != n_columns:
        raise ConllFormatError(
            source,
            line_no,
            f"expected {n_columns} columns like the lines before, found {len(columns)}: {raw.rstrip()!r}",
        )
    return n_columns


def _normalise_iob1(sentences: list[Sentence], source: str) -> None:
    """IOB1 entity starts (an I- tag that opens an entity) rewritten as IOB2 B- tags, in place."""
    converted = 0
    for sentence in sentences:
        sentence.ner_tags, report = repair_bio(sentence.ner_tags)
        converted += report.orphans_fixed
    if converted:
        logger.info("%s: %d IOB1 entity starts rewritten as IOB2 B- tags", source, converted)


def parse_conll(
    lines: Iterable[str], source: str = "<text>", on_unknown_tag: UnknownTagPolicy = "raise"
) -> list[Sentence]:
    """Parse CoNLL lines into sentences.

    ``on_unknown_tag="raise"`` (gold data) rejects any NER tag that is not IOB (``O``, ``B-X``,
    ``I-X``) and normalises IOB1 to IOB2 -- which types X may be is the run's schema's business
    (:func:`check_entity_types`); ``"keep"`` (LLM output to be scored and repaired by the caller)
    keeps the tags exactly as written.
    """
    if on_unknown_tag not in ("raise", "keep"):
        raise ValueError(f"on_unknown_tag must be 'raise' or 'keep', got {on_unknown_tag!r}")
    collector = _SentenceCollector()
    n_columns: int | None = None
    for line_no, raw in enumerate(lines, start=1):
        columns = raw.split()
        if not columns:
            collector.close()
            continue
        if columns[0] == DOCSTART:
            collector.start_document()
            continue
        n_columns = _checked_column_count(columns, n_columns, source, line_no, raw)
        tag = columns[-1]
        if on_unknown_tag == "raise" and not is_iob(tag):
            raise ConllFormatError(source, line_no, f"NER tag {tag!r} is not IOB: expected O, B-<TYPE> or I-<TYPE>")
        collector.add_token(columns, line_no)
    collector.close()

    sentences = collector.sentences
    if not sentences:
        raise ConllFormatError(source, None, "contains no sentences (empty file?)")
    if on_unknown_tag == "raise":
        _normalise_iob1(sentences, source)
    return sentences


def read_conll(path: str | Path, on_unknown_tag: UnknownTagPolicy = "raise", encoding: str = "utf-8") -> list[Sentence]:
    path = Path(path)
    with path.open(encoding=encoding) as handle:
        return parse_conll(handle, source=str(path), on_unknown_tag=on_unknown_tag)


def sentences_to_table(sentences: Iterable[Sentence], source: str | None = None) -> pd.DataFrame:
    """The sentence table, plus ``first_line`` and ``attrs["source"]`` for error messages."""
    rows = [
        (i, s.document_id, s.tokens, s.pos_tags, s.chunk_tags, s.ner_tags, s.first_line)
        for i, s in enumerate(sentences)
    ]
    table = pd.DataFrame(rows, columns=[*SENTENCE_COLUMNS, "first_line"])
    table.attrs["source"] = source
    return table


def check_entity_types(table: pd.DataFrame, schema: LabelSchema, source: str | None = None) -> None:
    """Raise :class:`ConllFormatError` at the first NER tag outside ``schema``, naming its file and
    line (from ``first_line`` and ``attrs["source"]``, as :func:`sentences_to_table` leaves them)."""
    source = source or table.attrs.get("source") or "<sentence table>"
    lines = table["first_line"] if "first_line" in table.columns else [None] * len(table)
    for sentence_id, tags, first_line in zip(table["sentence_id"], table["ner_tags"], lines):
        for offset, tag in enumerate(tags):
            if not schema.is_known(tag):
                where = first_line + offset if first_line else None
                problem = (
                    f"NER tag {tag!r} is not one of the entity types {schema.describe()} "
                    f"(`entity_types` in parameters); allowed tags: {', '.join(schema.labels)}"
                )
                raise ConllFormatError(source if where else f"{source}, sentence {sentence_id}", where, problem)


def format_conll(table: pd.DataFrame, tag_column: str = "ner_tags") -> str:
    """CoNLL text for a sentence table: 4 columns when POS/chunk tags are present, else 2.

    ``-DOCSTART-`` lines are written wherever ``document_id`` changes, so a read/format round
    trip keeps document boundaries.
    """
    missing = {"tokens", tag_column} - set(table.columns)
    if missing:
        raise ValueError(f"sentence table lacks column(s) {sorted(missing)}")
    has_pos = "pos_tags" in table.columns and table["pos_tags"].notna().all()
    has_documents = "document_id" in table.columns
    out: list[str] = []
    previous_document = None
    for row in table.itertuples(index=False):
        tokens, tags = list(row.tokens), list(getattr(row, tag_column))
        columns = [tokens, tags]
        if has_pos:
            columns = [tokens, list(row.pos_tags), list(row.chunk_tags), tags]
        if len({len(c) for c in columns}) != 1:
            sid = getattr(row, "sentence_id", "?")
            raise ValueError(f"sentence {sid}: lengths differ (tokens/tags: {[len(c) for c in columns]})")
        if has_documents and row.document_id != previous_document:
            out.append(f"{DOCSTART} -X- -X- O\n\n" if has_pos else f"{DOCSTART} O\n\n")
            previous_document = row.document_id
        out.extend(" ".join(values) + "\n" for values in zip(*columns))
        out.append("\n")
    return "".join(out)


def write_conll(table: pd.DataFrame, path: str | Path, tag_column: str = "ner_tags") -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_conll(table, tag_column), encoding="utf-8")
