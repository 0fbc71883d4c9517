"""Raw documents in: a folder of ``.txt`` files (one document each) or ``.jsonl`` files (one
``{"id", "text", **meta}`` per line), cut into sentences and tokens by spaCy's rule-based English
tokenizer and sentencizer (no model to download), every token keeping its character offsets in the
document -- so any label on a token maps back to the exact characters people wrote.

Line breaks are a format's convention, not spaCy's to guess: ``line_breaks`` says whether they end
a sentence (``line``: one sentence or heading per line), only when blank (``paragraph``: wrapped
prose with blank lines between paragraphs -- the default) or never (``none``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pandas as pd

from .typed import settings

SUFFIXES = (".txt", ".jsonl")
LINE_BREAKS = ("none", "paragraph", "line")
DOCUMENT_COLUMNS = ("document_id", "text", "source", "meta")
SENTENCE_COLUMNS = ("sentence_id", "document_id", "text", "start", "end", "tokens", "token_starts", "token_ends")

# the stretches of text between sentence-ending line breaks, per ``line_breaks``
_BLOCKS = {
    "none": re.compile(r".+", re.S),
    "paragraph": re.compile(r"(?:[^\n]|\n(?![ \t\r\f\v]*(?:\n|$)))+"),  # a newline inside, unless a blank line follows
    "line": re.compile(r"[^\n]+"),
}


class DocumentError(ValueError):
    """A document that cannot be read: the message names the file and the line or byte."""


@settings
class SegmenterSettings:
    line_breaks: Literal[LINE_BREAKS] = "paragraph"


def read_documents(path: str | Path) -> pd.DataFrame:
    """The documents of a ``.txt``/``.jsonl`` file or of a folder (searched recursively, in name
    order): ``document_id`` (a ``.txt`` file's stem, a line's ``id`` or ``<stem>:<line>``),
    ``text``, ``source`` (file, and line for JSONL) and ``meta`` (a JSONL line's other keys).
    Files of other kinds are left out and listed in ``attrs["skipped_files"]``; an empty file is
    a document with empty text, so it stays in the counts."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise DocumentError(f"{path}: no such file or folder")
    rows, seen = [], {}
    for file in files:
        if file.suffix not in SUFFIXES:
            continue
        for row in _read_jsonl(file) if file.suffix == ".jsonl" else [_read_txt(file)]:
            if row["document_id"] in seen:
                raise DocumentError(
                    f"duplicate document id {row['document_id']!r}: {seen[row['document_id']]} and {row['source']}"
                )
            seen[row["document_id"]] = row["source"]
            rows.append(row)
    table = pd.DataFrame(rows, columns=list(DOCUMENT_COLUMNS))
    table.attrs["skipped_files"] = [str(f) for f in files if f.suffix not in SUFFIXES]
    return table


def _decode(file: Path) -> str:
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DocumentError(f"{file}: not UTF-8 at byte {error.start} ({error.reason})") from None
    return text.removeprefix("\ufeff")


def _read_txt(file: Path) -> dict:
    return {"document_id": file.stem, "text": _decode(file), "source": str(file), "meta": {}}


def _read_jsonl(file: Path) -> Iterator[dict]:
    for number, line in enumerate(_decode(file).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DocumentError(f"{where}: not JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(record, dict) or "text" not in record:
            raise DocumentError(f'{where}: a line must be a JSON object with a "text" key')
        if not isinstance(record["text"], str):
            raise DocumentError(f'{where}: "text" must be a string, got {type(record["text"]).__name__}')
        meta = {k: v for k, v in record.items() if k not in ("id", "text")}
        document_id = str(record["id"]) if record.get("id") is not None else f"{file.stem}:{number}"
        yield {"document_id": document_id, "text": record["text"], "source": where, "meta": meta}


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # character offsets in the document
    end: int


@cache
def _english():
    import spacy  # imported on first use: a project that never reads raw text does not pay for it

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 10**9  # no parser or NER here: a long text costs time, not memory
    return nlp


def sentences_of(text: str, settings: SegmenterSettings = SegmenterSettings()) -> list[list[Token]]:
    """The sentences of one text as lists of tokens (whitespace dropped), offsets in ``text``."""
    blocks = [(m.start(), m.group()) for m in _BLOCKS[settings.line_breaks].finditer(text) if m.group().strip()]
    sentences = []
    for (offset, _), doc in zip(blocks, _english().pipe(block for _, block in blocks)):
        for sentence in doc.sents:
            tokens = [Token(t.text, offset + t.idx, offset + t.idx + len(t.text)) for t in sentence if not t.is_space]
            if tokens:
                sentences.append(tokens)
    return sentences


def segment(documents: pd.DataFrame, settings: SegmenterSettings = SegmenterSettings()) -> pd.DataFrame:
    """The sentence table of a documents table (columns :data:`SENTENCE_COLUMNS`): ``text`` is the
    sentence as written, ``start``/``end`` and ``token_starts``/``token_ends`` are character
    offsets in its document. A document with no sentence adds no row; :func:`document_counts`
    keeps it in the counts."""
    rows = []
    for document_id, text in zip(documents["document_id"], documents["text"]):
        for tokens in sentences_of(text, settings):
            start, end = tokens[0].start, tokens[-1].end
            rows.append(
                (
                    len(rows),
                    document_id,
                    text[start:end],
                    start,
                    end,
                    [t.text for t in tokens],
                    [t.start for t in tokens],
                    [t.end for t in tokens],
                )
            )
    return pd.DataFrame(rows, columns=list(SENTENCE_COLUMNS))


def document_counts(documents: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    """Per document: its sentences and tokens, and ``status`` ``ok`` or ``empty`` (no sentence)."""
    per_document = sentences.groupby("document_id", sort=False).agg(
        sentences=("sentence_id", "size"), tokens=("tokens", lambda t: int(sum(map(len, t))))
    )
    counts = documents[["document_id", "source"]].join(per_document, on="document_id")
    counts[["sentences", "tokens"]] = counts[["sentences", "tokens"]].fillna(0).astype(int)
    counts["status"] = counts["sentences"].map(lambda n: "ok" if n else "empty")
    return counts
