"""Tagging documents: one record per input document in input order, every span at its exact
characters, a status for each document, long sentences tagged in parts (never cut off), the same
records from Ray Data shards, and the `inference` pipeline through the real `kedro` CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from llm_ner.documents import read_documents, sentences_of
from llm_ner.inference import RayTagging, TaggingSettings, fitting_parts, tag_documents, tag_documents_on_ray
from llm_ner.model import Tagger

LONG = " ".join(["Peter Blackburn of the European Commission met officials in Brussels and Bonn"] * 4) + "."


@pytest.fixture(scope="module")
def tagger(tiny_tagger_config) -> Iterator[Tagger]:
    # random weights tag entities everywhere: what these tests need is many spans, not good ones
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network gains nothing from threads
    yield Tagger.build(dataclasses.replace(tiny_tagger_config, max_subwords=40), seed=3)
    torch.set_num_threads(previous)


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "a_report.txt").write_text(
        'EU rejects German call.\n\nPeter Blackburn (Brussels) -- 1996-08-22:\n"Germany\'s" rep said: no!',
        encoding="utf-8",
    )
    (folder / "b_empty.txt").write_text("")
    (folder / "c_long.txt").write_text(LONG)
    (folder / "d_briefs.jsonl").write_text(
        json.dumps({"id": "m1", "text": "Angela Merkel met Emmanuel Macron in Paris."})
        + "\n"
        + json.dumps({"id": "m2", "text": " \n "})
        + "\n"
    )
    return folder


def assert_spans_at_their_characters(records: pd.DataFrame) -> None:
    for record in records.itertuples():
        for span in record.spans:
            assert record.text[span["start"] : span["end"]] == span["text"]
            assert 0 <= span["score"] <= 1 and span["label"] in {"PER", "ORG", "LOC", "MISC"}


def test_one_record_per_document_in_input_order_with_its_status(tagger, documents):
    table = read_documents(documents)
    records = tag_documents(tagger, table)
    assert records["id"].tolist() == ["a_report", "b_empty", "c_long", "m1", "m2"]
    assert records["status"].tolist() == ["ok", "empty", "split", "ok", "empty"]
    assert_spans_at_their_characters(records)
    assert sum(map(len, records["spans"])) > 5
    assert records.set_index("id").loc["b_empty", "spans"] == []


def test_a_sentence_longer_than_the_encoder_limit_is_tagged_in_parts_never_cut(tagger):
    (sentence,) = sentences_of(LONG)
    parts = fitting_parts(tagger, [sentence])[0]
    assert len(parts) > 1 and sum(parts, []) == sentence
    assert all(len(e.word_starts) == e.n_words for e in tagger.encode([[t.text for t in p] for p in parts]))
    records = tag_documents(tagger, pd.DataFrame({"document_id": ["long"], "text": [LONG]}))
    ends = [span["end"] for span in records["spans"][0]]
    assert records["status"][0] == "split" and max(ends) > len(LONG) // 2  # the second half was tagged too


def test_a_text_that_is_not_a_string_gets_an_error_status_not_a_crash(tagger):
    records = tag_documents(tagger, pd.DataFrame({"text": ["Paris.", None, 3]}))
    assert records["id"].tolist() == [0, 1, 2]
    assert records["text"].tolist()[1:] == [None, None]
    assert records["status"].tolist()[1:] == [
        "error: text must be a string, got NoneType",
        "error: text must be a string, got int",
    ]


def test_batch_size_does_not_change_the_records(tagger, documents):
    table = read_documents(documents)
    one = tag_documents(tagger, table, TaggingSettings(batch_size=1))
    pd.testing.assert_frame_equal(one, tag_documents(tagger, table, TaggingSettings(batch_size=64)))


@pytest.mark.slow
def test_ray_data_shards_give_the_same_records_as_one_process(tagger, documents):
    ray = pytest.importorskip("ray")
    table = read_documents(documents)
    try:
        sharded = tag_documents_on_ray(
            tagger, table, TaggingSettings(), RayTagging(num_cpus=2, workers=2, documents_per_batch=2)
        )
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(sharded, tag_documents(tagger, table))


KEDRO = str(Path(sys.executable).parent / "kedro")


@pytest.mark.slow
def test_the_inference_pipeline_tags_a_folder_through_kedro_run(project_copy, tagger, documents, tmp_path):
    tagger.save(tmp_path / "tagger")
    output = tmp_path / "out" / "tagged.jsonl"
    command = [
        KEDRO,
        "run",
        "--env",
        "test",
        "--pipeline",
        "inference",
        "--params",
        f"inference.model={tmp_path / 'tagger'},inference.documents={documents},inference.output={output}",
    ]
    result = subprocess.run(
        command,
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["status"]) for r in lines] == [
        ("a_report", "ok"),
        ("b_empty", "empty"),
        ("c_long", "split"),
        ("m1", "ok"),
        ("m2", "empty"),
    ]
    assert_spans_at_their_characters(pd.DataFrame(lines))
    pd.testing.assert_frame_equal(
        pd.DataFrame(lines), tag_documents(tagger, read_documents(documents)), check_dtype=False
    )
    counts = pd.read_csv(project_copy / "data/08_reporting/inference/status_counts.csv").set_index("status")
    assert counts["documents"].to_dict() == {"empty": 2, "ok": 2, "split": 1}


@pytest.mark.slow
def test_a_model_trained_for_other_entity_types_stops_the_run_naming_both(
    project_copy, documents, tmp_path, tiny_tagger_config
):
    other = Tagger.build(tiny_tagger_config, labels=("O", "B-DRUG", "I-DRUG"))
    other.save(tmp_path / "drugs")
    command = [
        KEDRO,
        "run",
        "--env",
        "test",
        "--pipeline",
        "inference",
        "--params",
        f"inference.model={tmp_path / 'drugs'},inference.documents={documents}",
    ]
    result = subprocess.run(
        command,
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
    )
    assert result.returncode != 0
    assert "was trained for the entity types DRUG" in result.stderr and "PER, ORG, LOC, MISC" in result.stderr


def test_json_lines_keep_the_text_as_written_and_load_back_the_same_records(tmp_path):
    from llm_ner.datasets.json_lines import JSONLinesDataset

    records = pd.DataFrame(
        {
            "id": ["z1"],
            "text": ["Zürich / Genève"],
            "status": ["ok"],
            "spans": [[{"start": 0, "end": 6, "label": "LOC", "text": "Zürich", "score": 0.9}]],
        }
    )
    dataset = JSONLinesDataset(str(tmp_path / "out" / "tagged.jsonl"))
    dataset.save(records)
    written = (tmp_path / "out" / "tagged.jsonl").read_text(encoding="utf-8")
    assert "Zürich / Genève" in written and written.count("\n") == 1
    pd.testing.assert_frame_equal(dataset.load(), records)
    assert not list((tmp_path / "out").glob("*.partial"))
    dataset.save(pd.DataFrame({"id": ["a", "b"], "text": ["Paris.", None]}))  # pandas holds the None as NaN
    assert (tmp_path / "out" / "tagged.jsonl").read_text().splitlines()[1] == '{"id": "b", "text": null}'


def test_a_model_reference_that_holds_no_tagger_is_an_error_saying_what_it_may_be(tmp_path):
    from llm_ner.parameters import check_parameters
    from llm_ner.pipelines.inference.nodes import load_tagger
    from llm_ner.settings import project_parameters

    typed = check_parameters(project_parameters(runtime_params={"inference": {"model": str(tmp_path / "none")}}))
    with pytest.raises(ValueError, match=r"inference.model: '.*none' holds no saved tagger .* MLflow model URI"):
        load_tagger(typed["inference"], typed["entity_types"])
