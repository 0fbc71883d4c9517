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
    sentences: list[Sentence] = []
    n_columns: int | None = None
    document_id = 0
    seen_docstart = False
    current: Sentence | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.tokens:
            sentences.append(current)
        current = None

    for line_no, raw in enumerate(lines, start=1):
        columns = raw.split()
        if not columns:
            close()
            continue
        if columns[0] == DOCSTART:
            close()
            document_id += 1 if seen_docstart else 0
            seen_docstart = True
            continue
        if n_columns is None:
            if len(columns) not in (2, 4):
                raise ConllFormatError(
                    source,
                    line_no,
                    "expected 2 columns (token NER) or 4 (token POS chunk NER), "
                    f"found {len(columns)}: {raw.rstrip()!r}",
                )
            n_columns = len(columns)
        elif len(columns) != n_columns:
            raise ConllFormatError(
                source,
                line_no,
                f"expected {n_columns} columns like the lines before, found {len(columns)}: {raw.rstrip()!r}",
            )
        tag = columns[-1]
        if on_unknown_tag == "raise" and not is_iob(tag):
            raise ConllFormatError(source, line_no, f"NER tag {tag!r} is not IOB: expected O, B-<TYPE> or I-<TYPE>")
        if current is None:
            current = Sentence(document_id=document_id, first_line=line_no)
            if n_columns == 4:
                current.pos_tags, current.chunk_tags = [], []
        current.tokens.append(columns[0])
        current.ner_tags.append(tag)
        if n_columns == 4:
            current.pos_tags.append(columns[1])
            current.chunk_tags.append(columns[2])
    close()

    if not sentences:
        raise ConllFormatError(source, None, "contains no sentences (empty file?)")
    if on_unknown_tag == "raise":
        converted = 0
        for sentence in sentences:
            sentence.ner_tags, report = repair_bio(sentence.ner_tags)
            converted += report.orphans_fixed
        if converted:
            logger.info("%s: %d IOB1 entity starts rewritten as IOB2 B- tags", source, converted)
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
