"""Labels out to spaCy/Prodigy span JSONL and CoNLL, and gold back in: every exported span is the
characters people wrote, a write/read/import round trip gives back the tags, spans that cut tokens
are snapped and counted, and every bad file or record is an error naming the file and line."""

from __future__ import annotations

import copy
import json
import re

import pandas as pd
import pytest

from llm_ner.conll import parse_conll
from llm_ner.documents import read_documents, segment
from llm_ner.interchange import (
    InterchangeError,
    conll_text,
    read_span_jsonl,
    span_records,
    tags_from_span_records,
    write_span_jsonl,
)
from llm_ner.tags import CONLL_2003, bio_to_spans

# a CRLF inside a sentence and between sentences, quotes, guillemets, "...", "?!", a U+2028 inside a
# sentence (JSON leaves it unescaped) and non-ASCII names
REPORT = (
    'Anna Müller (CEO of\r\n"Zürich Re") said: «We\'re moving to Zürich!»\r\n'
    "Traffic rose 4.2% -- Geneva... and St. Gallen?!\r\n\r\n"
    "Sales\u2028in Basel rose; José Ramos-Horta didn't comment.\n"
)
BRIEF = "Angela Merkel met Emmanuel Macron in Paris."
# entity mentions as token sequences, longest first: the tags are made from them
LEXICON = {
    ("José", "Ramos", "-", "Horta"): "PER",
    ("Angela", "Merkel"): "PER",
    ("Emmanuel", "Macron"): "PER",
    ("Anna", "Müller"): "PER",
    ("Zürich", "Re"): "ORG",
    ("St.", "Gallen"): "LOC",
    ("Zürich",): "LOC",
    ("Geneva",): "LOC",
    ("Basel",): "LOC",
    ("Paris",): "LOC",
}


def lexicon_tags(tokens: list[str]) -> list[str]:
    tags, i = ["O"] * len(tokens), 0
    while i < len(tokens):
        mention = next((m for m in LEXICON if tuple(tokens[i : i + len(m)]) == m), None)
        if mention is None:
            i += 1
            continue
        tags[i : i + len(mention)] = [f"B-{LEXICON[mention]}"] + [f"I-{LEXICON[mention]}"] * (len(mention) - 1)
        i += len(mention)
    return tags


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[pd.DataFrame, dict[str, str], list[list[str]]]:
    """The sentence table of the documents, the documents' texts, and tags for every sentence."""
    folder = tmp_path_factory.mktemp("documents")
    (folder / "report.txt").write_text(REPORT, encoding="utf-8", newline="")
    (folder / "briefs.jsonl").write_text(json.dumps({"id": 7, "text": BRIEF}) + "\n", encoding="utf-8")
    documents = read_documents(folder)
    sentences = segment(documents)
    tags = [lexicon_tags(list(tokens)) for tokens in sentences["tokens"]]
    return sentences, dict(zip(documents["document_id"], documents["text"])), tags


def test_every_exported_span_is_the_documents_characters(corpus):
    sentences, documents, tags = corpus
    records = span_records(sentences, tags, meta={"source": "test"})
    assert len(records) == len(sentences) == 4
    exported = []
    for record, sentence_tags in zip(records, tags):
        document, offset = documents[record["meta"]["document_id"]], record["meta"]["offset"]
        assert record["meta"]["source"] == "test"
        assert document[offset : offset + len(record["text"])] == record["text"]
        for token in record["tokens"]:
            assert record["text"][token["start"] : token["end"]] == token["text"]
            assert document[offset + token["start"] : offset + token["end"]] == token["text"]
        assert [t["id"] for t in record["tokens"]] == list(range(len(record["tokens"])))
        for span in record["spans"]:
            assert record["text"][span["start"] : span["end"]] == span["text"]
            assert document[offset + span["start"] : offset + span["end"]] == span["text"]
            # token_end is the span's last token, not one past it
            assert record["tokens"][span["token_start"]]["start"] == span["start"]
            assert record["tokens"][span["token_end"]]["end"] == span["end"]
            exported.append((span["text"], span["label"]))
        assert len(record["spans"]) == len(bio_to_spans(sentence_tags))
    assert exported == [
        ("Angela Merkel", "PER"),
        ("Emmanuel Macron", "PER"),
        ("Paris", "LOC"),
        ("Anna Müller", "PER"),
        ("Zürich Re", "ORG"),
        ("Zürich", "LOC"),
        ("Geneva", "LOC"),
        ("St. Gallen", "LOC"),
        ("Basel", "LOC"),
        ("José Ramos-Horta", "PER"),
    ]
    report = records[1]
    assert report["meta"] == {"document_id": "report", "sentence_id": 1, "offset": 0, "source": "test"}
    assert "\r\n" in report["text"]  # the sentence as written, line break included


def test_spans_are_read_from_tags_like_bio_to_spans(corpus):
    sentences, _, _ = corpus
    brief = sentences.iloc[[0]]
    assert list(brief["tokens"].iloc[0]) == ["Angela", "Merkel", "met", "Emmanuel", "Macron", "in", "Paris", "."]
    # an I- opening an entity, two entities of one type side by side, one ending at the last token
    tags = ["I-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC", "I-LOC"]
    (record,) = span_records(brief, [tags])
    assert [(s["token_start"], s["token_end"], s["label"], s["text"]) for s in record["spans"]] == [
        (0, 1, "PER", "Angela Merkel"),
        (3, 3, "PER", "Emmanuel"),
        (4, 4, "PER", "Macron"),
        (6, 7, "LOC", "Paris."),
    ]
    assert [(s.start, s.end - 1) for s in bio_to_spans(tags)] == [
        (s["token_start"], s["token_end"]) for s in record["spans"]
    ]


def test_export_refuses_what_would_lose_a_sentence(corpus):
    sentences, _, tags = corpus
    with pytest.raises(ValueError, match=r"meta may not set \['offset'\]"):
        span_records(sentences, tags, meta={"offset": 0})
    with pytest.raises(ValueError, match="3 tag lists for 4 sentences"):
        span_records(sentences, tags[:3])
    with pytest.raises(ValueError, match="sentence 2: 1 tags for 12 tokens"):
        span_records(sentences, [*tags[:2], ["O"], tags[3]])


def test_write_read_import_gives_back_the_tags(corpus, tmp_path):
    sentences, _, tags = corpus
    path = tmp_path / "out" / "gold.jsonl"
    write_span_jsonl(span_records(sentences, tags), path)
    raw = path.read_text(encoding="utf-8")
    assert "Zürich" in raw and "\u2028" in raw  # non-ASCII as written, and U+2028 does not end a line
    assert len(raw.split("\n")) == len(sentences) + 1
    records = read_span_jsonl(path)
    gold = tags_from_span_records(records, sentences, CONLL_2003, str(path))
    assert list(gold.columns) == ["sentence_id", "gold_tags", "repaired"]
    assert gold["sentence_id"].tolist() == sentences["sentence_id"].tolist()
    assert gold["gold_tags"].tolist() == tags
    assert gold["repaired"].tolist() == [0, 0, 0, 0]
    # rows come in the records' order; what the annotator rejected is no label and no duplicate
    rejected = {**copy.deepcopy(records[0]), "answer": "reject", "spans": []}
    again = tags_from_span_records([*records[::-1], rejected], sentences, CONLL_2003, "gold.jsonl")
    assert again["sentence_id"].tolist() == [3, 2, 1, 0]
    assert again["gold_tags"].tolist() == tags[::-1]


def test_a_span_cutting_a_token_is_snapped_and_counted(corpus):
    sentences, _, tags = corpus
    records = span_records(sentences, tags)
    record = records[1]  # Anna Müller (CEO of "Zürich Re") said: «We're moving to Zürich!»
    anna, zurich_re, zurich = record["spans"]
    anna["end"] -= 3  # "Anna Mül"
    zurich_re["start"] += 2  # "rich Re"
    zurich["start"] -= 1  # " Zürich": whitespace at an edge is not a cut
    record["spans"].append({"start": zurich["start"], "end": zurich["start"] + 1, "label": "MISC"})  # only a space
    gold = tags_from_span_records(records, sentences, CONLL_2003, "gold.jsonl")
    assert gold["gold_tags"].tolist() == tags  # snapped back onto the tokens they cut
    assert gold["repaired"].tolist() == [0, 3, 0, 0]  # two cuts, and the span that covers no token


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"text": "Anna flew", "spans": [}', "not JSON"),
        ('["Anna flew"]', "a record must be a JSON object"),
        ('{"spans": []}', 'no "text" string'),
        ('{"text": 3}', 'no "text" string'),
        ('{"text": "Anna flew", "spans": {}}', '"spans" must be a list'),
        ('{"text": "Anna flew", "spans": [{"start": "0", "end": 4, "label": "PER"}]}', 'integer "start" and "end"'),
        ('{"text": "Anna flew", "spans": [{"start": 0, "end": true, "label": "PER"}]}', 'integer "start" and "end"'),
        ('{"text": "Anna flew", "spans": [{"start": 0, "end": 4}]}', 'needs a "label"'),
        ('{"text": "Anna flew", "spans": [{"start": 5, "end": 12, "label": "LOC"}]}', "not inside the 9 characters"),
        ('{"text": "Anna flew", "spans": [{"start": 4, "end": 4, "label": "PER"}]}', "or is empty"),
        ('{"text": "Anna flew", "spans": [{"start": -1, "end": 4, "label": "PER"}]}', "not inside"),
    ],
)
def test_reading_a_bad_line_names_the_file_and_line(tmp_path, line, problem):
    path = tmp_path / "gold.jsonl"
    good = json.dumps({"text": "Anna flew", "spans": [{"start": 0, "end": 4, "label": "PER"}]})
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(InterchangeError, match=re.escape(f"{path}, line 3: ") + ".*" + re.escape(problem)):
        read_span_jsonl(path)


def test_reading_skips_blank_lines_and_rejects_other_encodings(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('\n{"text": "Zürich"}\n   \n\n', encoding="utf-8")
    assert read_span_jsonl(path) == [{"text": "Zürich"}]
    path.write_text('{"text": "Zürich"}\n', encoding="latin-1")
    with pytest.raises(InterchangeError, match=re.escape(f"{path}: not UTF-8 at byte 11")):
        read_span_jsonl(path)


def _broken(records: list[dict], break_it) -> list[dict]:
    """A copy of the records with the second one changed by ``break_it``."""
    records = copy.deepcopy(records)
    break_it(records[1])
    return records


@pytest.mark.parametrize(
    "break_it, problem",
    [
        (lambda r: r["meta"].update(offset=1), "line 2: no sentence of document 'report' starts at character 1"),
        (lambda r: r["meta"].update(document_id="other"), "line 2: no sentence of document 'other'"),
        (lambda r: r.pop("meta"), 'line 2: no "meta" with "document_id" and an integer "offset"'),
        (lambda r: r.update(text=r["text"].replace("Müller", "Muller")), "line 2: the text differs from sentence 1"),
        (lambda r: r["spans"][0].update(label="PERSON"), "line 2: label 'PERSON' is not one of the entity types"),
        (lambda r: r["spans"][0].update(end=r["spans"][1]["start"] + 1), "line 2: spans 'Anna Müller (CEO of"),
        (lambda r: r["spans"][0].update(end=999), "line 2: span 0-999 (PER) is not inside"),
    ],
)
def test_importing_a_bad_record_names_the_source_and_line(corpus, break_it, problem):
    sentences, _, tags = corpus
    records = _broken(span_records(sentences, tags), break_it)
    with pytest.raises(InterchangeError, match=re.escape(f"gold.jsonl, {problem}")):
        tags_from_span_records(records, sentences, CONLL_2003, "gold.jsonl")


def test_two_records_for_one_sentence_name_both_lines(corpus):
    sentences, _, tags = corpus
    records = span_records(sentences, tags)
    with pytest.raises(InterchangeError, match=re.escape("gold.jsonl, lines 2 and 5: both label sentence 1")):
        tags_from_span_records([*records, records[1]], sentences, CONLL_2003, "gold.jsonl")


def test_conll_text_reads_back_through_the_conll_reader(corpus):
    sentences, _, tags = corpus
    text = conll_text(sentences, tags)
    assert text.startswith("-DOCSTART- O\n\nAngela B-PER\n")
    read = parse_conll(text.splitlines(keepends=True), source="export.conll")
    assert [s.tokens for s in read] == [list(t) for t in sentences["tokens"]]
    assert [s.ner_tags for s in read] == tags
    assert [s.document_id for s in read] == [0, 1, 1, 1]  # document "7", then "report"


def test_conll_text_refuses_a_token_the_reader_would_take_for_a_document_break(tmp_path):
    (tmp_path / "odd.txt").write_text("See -DOCSTART- here.", encoding="utf-8")
    sentences = segment(read_documents(tmp_path))
    with pytest.raises(InterchangeError, match="sentence 0: the token '-DOCSTART-' cannot be written as CoNLL"):
        conll_text(sentences, [["O"] * len(sentences["tokens"].iloc[0])])
