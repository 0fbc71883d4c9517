"""Raw documents in: the reader's errors name file and line (or byte), every token maps back to the
characters of its document, line breaks end sentences as configured, empty documents stay counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_ner.datasets import DocumentsDataset
from llm_ner.documents import DocumentError, SegmenterSettings, read_documents, segment, sentences_of

REPORT = (
    "Harbour report -- 14 March\n\n"
    "The Port of Rotterdam said on Tuesday that traffic rose 4.2% in February,\r\n"
    'helped by routes from Shanghai. "We expect it to hold," said Mr. Castelein (CEO).\n\n\n'
    "Maersk and MSC added calls;Hapag-Lloyd did not comment...   \n"
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    (folder / "nested").mkdir(parents=True)
    (folder / "report.txt").write_text(REPORT, encoding="utf-8", newline="")
    (folder / "empty.txt").write_text("")
    (folder / "nested" / "notes.txt").write_text("\ufeffKarim Benzema scored twice for Real Madrid!", encoding="utf-8")
    (folder / "briefs.jsonl").write_text(
        json.dumps({"id": 7, "text": "Angela Merkel met Emmanuel Macron in Paris.", "desk": "wire"})
        + "\n\n"
        + json.dumps({"text": "   "})
        + "\n",
        encoding="utf-8",
    )
    (folder / "README.md").write_text("not a document")
    return folder


def test_every_token_and_sentence_maps_back_to_its_documents_characters(corpus):
    sentences = DocumentsDataset(path=str(corpus)).load()
    documents = sentences.attrs["documents"].set_index("document_id")["text"]
    assert set(sentences["document_id"]) == {"report", "notes", "7"}
    for row in sentences.itertuples():
        text = documents[row.document_id]
        assert [text[s:e] for s, e in zip(row.token_starts, row.token_ends)] == list(row.tokens)
        assert text[row.start : row.end] == row.text
    assert sentences["sentence_id"].tolist() == list(range(len(sentences)))
    report = sentences[sentences["document_id"] == "report"]
    assert report["text"].iloc[0] == "Harbour report -- 14 March"  # a blank line ends the heading
    assert "4.2" in report["tokens"].iloc[1] and "Mr." in sum(report["tokens"], [])
    assert sentences[sentences["document_id"] == "notes"]["tokens"].iloc[0][0] == "Karim"  # the BOM is not text


def test_documents_and_their_counts_keep_empty_documents_and_jsonl_metadata(corpus):
    sentences = DocumentsDataset(path=str(corpus)).load()
    counts = sentences.attrs["document_counts"].set_index("document_id")
    assert counts.loc["empty", "status"] == "empty" and counts.loc["briefs:3", "status"] == "empty"
    assert counts.loc["report", "status"] == "ok" and counts.loc["report", "sentences"] == len(
        sentences[sentences["document_id"] == "report"]
    )
    documents = DocumentsDataset(path=str(corpus), unit="documents").load()
    assert len(documents) == 5 and documents.attrs["skipped_files"] == [str(corpus / "README.md")]
    brief = documents.set_index("document_id").loc["7"]
    assert brief["meta"] == {"desk": "wire"} and brief["source"].endswith("briefs.jsonl:1")


def test_line_breaks_end_sentences_only_as_configured():
    text = "He met U.S. officials,\nthen left.\n\nEU rejects German call"
    cut = {
        mode: [" ".join(t.text for t in s) for s in sentences_of(text, SegmenterSettings(line_breaks=mode))]
        for mode in ("none", "paragraph", "line")
    }
    assert cut["paragraph"] == ["He met U.S. officials , then left .", "EU rejects German call"]
    assert cut["line"] == ["He met U.S. officials ,", "then left .", "EU rejects German call"]
    assert cut["none"][0] == "He met U.S. officials , then left ."
    with pytest.raises(ValueError, match="line_breaks"):
        SegmenterSettings(line_breaks="lines")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.txt", "Caf\u00e9 Zurich".encode("latin-1"), r"latin1\.txt: not UTF-8 at byte 3"),
        ("bad.jsonl", b'{"id": 1, "text": "ok"}\n{"id": 2, "text": \n', r"bad\.jsonl:2: not JSON"),
        ("notext.jsonl", b'{"id": 1, "body": "ok"}\n', r"notext\.jsonl:1: .*\"text\" key"),
        ("number.jsonl", b'{"id": 1, "text": 42}\n', r"number\.jsonl:1: \"text\" must be a string, got int"),
    ],
)
def test_a_malformed_file_is_an_error_naming_the_file_and_where(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DocumentError, match=message):
        read_documents(tmp_path)


def test_duplicate_document_ids_are_an_error_naming_both(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "memo.txt").write_text("One.")
    (tmp_path / "memo.jsonl").write_text(json.dumps({"id": "memo", "text": "Two."}) + "\n")
    with pytest.raises(DocumentError, match=r"duplicate document id 'memo': .*a/memo\.txt and .*memo\.jsonl:1"):
        read_documents(tmp_path)


def test_a_missing_folder_and_a_bad_unit_are_clear_errors(tmp_path):
    with pytest.raises(DocumentError, match="no such file or folder"):
        read_documents(tmp_path / "absent")
    with pytest.raises(Exception, match=r"unit: must be one of \('sentences', 'documents'\)"):
        DocumentsDataset(path=str(tmp_path), unit="paragraphs")


def test_segment_of_no_documents_is_an_empty_table(tmp_path):
    assert segment(read_documents(tmp_path)).empty
