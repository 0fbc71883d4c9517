from pathlib import Path

import pandas as pd
import pytest

from llm_ner.conll import ConllFormatError, format_conll, parse_conll, read_conll, sentences_to_table, write_conll
from llm_ner.corpus import load_split

FOUR_COLUMNS = """-DOCSTART- -X- -X- O

Acme NNP B-NP B-ORG
hires VBZ B-VP O
Dutch JJ B-NP B-MISC
. . O O



Maria NNP B-NP B-PER
Lopez NNP I-NP I-PER
-DOCSTART- -X- -X- O

OSLO NNP B-NP B-LOC
"""


def write(tmp_path: Path, text: str, name: str = "corpus.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_four_columns_with_documents_and_blank_line_runs(tmp_path):
    sentences = read_conll(write(tmp_path, FOUR_COLUMNS))
    assert [s.tokens for s in sentences] == [["Acme", "hires", "Dutch", "."], ["Maria", "Lopez"], ["OSLO"]]
    assert [s.document_id for s in sentences] == [0, 0, 1]
    assert sentences[0].pos_tags == ["NNP", "VBZ", "JJ", "."]
    assert sentences[0].chunk_tags == ["B-NP", "B-VP", "B-NP", "O"]
    assert sentences[1].ner_tags == ["B-PER", "I-PER"]


def test_two_columns_tab_separated_without_docstart():
    sentences = parse_conll(["Paris\tB-LOC\n", "is\tO\n", "\n", "Obama\tB-PER\n"])
    assert [s.ner_tags for s in sentences] == [["B-LOC", "O"], ["B-PER"]]
    assert sentences[0].pos_tags is None and {s.document_id for s in sentences} == {0}


def test_iob1_input_becomes_iob2():
    lines = ["New I-LOC", "York I-LOC", "and O", "Boston I-LOC", "Red B-ORG", "Sox I-ORG", "Ltd B-ORG"]
    (sentence,) = parse_conll(line + "\n" for line in lines)
    assert sentence.ner_tags == ["B-LOC", "I-LOC", "O", "B-LOC", "B-ORG", "I-ORG", "B-ORG"]


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("Acme NNP B-ORG\n", 1, "expected 2 columns"),
        ("Acme NNP B-NP B-ORG\nhires O\n", 2, "expected 4 columns"),
        ("Acme B-ORG\n\nhires ORG-B\n", 3, "NER tag 'ORG-B' is not IOB"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConllFormatError, match=problem) as error:
        read_conll(path)
    assert error.value.line == line
    assert str(path) in str(error.value) and f"line {line}" in str(error.value)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_a_file_without_sentences_is_an_error(tmp_path, text):
    with pytest.raises(ConllFormatError, match="no sentences"):
        read_conll(write(tmp_path, text))


def test_unknown_tags_can_be_kept_for_llm_output():
    (sentence,) = parse_conll(["Acme [CLS]\n", "hires I-PER\n"], on_unknown_tag="keep")
    assert sentence.ner_tags == ["[CLS]", "I-PER"]  # untouched: the caller counts and repairs


def test_write_then_read_round_trip(tmp_path):
    table = sentences_to_table(read_conll(write(tmp_path, FOUR_COLUMNS)))
    write_conll(table, tmp_path / "out" / "copy.txt")
    again = sentences_to_table(read_conll(tmp_path / "out" / "copy.txt"))
    pd.testing.assert_frame_equal(table.drop(columns="first_line"), again.drop(columns="first_line"))


def test_writing_mismatched_lengths_names_the_sentence():
    table = pd.DataFrame({"sentence_id": [7], "tokens": [["a", "b"]], "ner_tags": [["O"]]})
    with pytest.raises(ValueError, match="sentence 7"):
        format_conll(table)


def test_packaged_corpus_has_the_published_sizes():
    sizes = {split: load_split(split) for split in ("train", "valid", "test")}
    assert {split: len(t) for split, t in sizes.items()} == {"train": 14041, "valid": 3250, "test": 3453}
    assert {split: t["document_id"].nunique() for split, t in sizes.items()} == {
        "train": 946,
        "valid": 216,
        "test": 231,
    }
    assert sizes["train"]["tokens"].map(len).sum() == 203621


def test_folder_source_reads_the_same_corpus_as_the_package(shared_data):
    from_folder = load_split("valid", source="folder", path=str(shared_data / "conll2003"))
    pd.testing.assert_frame_equal(from_folder, load_split("valid"))


def test_bad_source_names_the_allowed_values():
    with pytest.raises(ValueError, match="package.*hub.*folder"):
        load_split("train", source="s3")


def test_hub_source_without_datasets_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(RuntimeError, match=r"llm-ner\[hub\]"):
        load_split("test", source="hub")
