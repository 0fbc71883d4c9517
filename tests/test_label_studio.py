"""Label Studio round trip: tasks with LLM pre-annotations out, a real export back in.

The file-based tests read exports a real Label Studio 1.23 server produced (recorded by
tests/label_studio_scenario.py); the round-trip test starts such a server itself."""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from llm_ner.label_studio import (
    LabelStudioClient,
    LabelStudioError,
    labeling_config,
    read_export,
    sentence_text,
    tasks_for,
)
from llm_ner.tags import CONLL_2003, LabelSchema

sys.path.insert(0, str(Path(__file__).parent))
from label_studio_scenario import FIXTURES, SECOND_ANNOTATOR_104, SELECTION, SUBMITTED, run_session
from label_studio_server import LABEL_STUDIO, LabelStudioServer, free_port


def recorded(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())


def check_round_trip(export: list[dict]) -> None:
    """What the scenario's annotators submitted is exactly what comes back."""
    result = read_export(export, SELECTION, CONLL_2003, source="export.json")
    rows = result.sentences.set_index("sentence_id")
    for sentence_id, (tags, _seconds) in SUBMITTED.items():
        assert rows.loc[sentence_id, "expert_tags"] == tags, sentence_id
        assert rows.loc[sentence_id, "status"] == "labelled"
    assert rows["status"].to_dict() == {
        101: "labelled",
        102: "labelled",
        103: "cancelled",
        104: "labelled",
        105: "labelled",
        106: "unlabelled",
        107: "missing",
    }
    assert result.counts() == {"labelled": 4, "cancelled": 1, "unlabelled": 1, "missing": 1}
    assert rows.loc[104, "lead_time_s"] == SUBMITTED[104][1] + SECOND_ANNOTATOR_104[1]  # both were paid
    assert rows.loc[103, "lead_time_s"] == 2.0 and rows.loc[103, "expert_tags"] is None
    assert math.isnan(rows.loc[106, "lead_time_s"])
    assert rows.loc[105, "repaired"] == 1 and "snapped to 'Nile Cup'" in rows.loc[105, "repair_reasons"][0]
    assert rows.loc[101, "repaired"] == 0
    # two annotators on sentence 104 agree on Paris (ORG) but not on Rome: P = R = F1 = 1/2
    assert result.agreement_tasks == 1 and result.agreement_f1 == pytest.approx(0.5)


def test_sentence_text_keeps_every_token_offset():
    text, starts, ends = sentence_text(["EU", "rejects", "German", "call", "."])
    assert text == "EU rejects German call ."
    assert [text[s:e] for s, e in zip(starts, ends)] == ["EU", "rejects", "German", "call", "."]


def test_labeling_config_names_every_type_of_the_schema():
    schema = LabelSchema.from_config(
        {"DRUG": {"description": "a medicine & its brand"}, "DOSE": {"description": "an amount"}}
    )
    view = ElementTree.fromstring(labeling_config(schema))
    labels = view.find("Labels")
    assert [label.get("value") for label in labels] == ["DRUG", "DOSE"]
    assert labels[0].get("hint") == "a medicine & its brand"
    assert view.find("Text").get("name") == labels.get("toName")


def test_tasks_carry_the_llm_labels_as_scored_predictions():
    task = tasks_for(SELECTION)[0]
    assert task["data"]["sentence_id"] == 101 and task["data"]["rank"] == 0
    prediction = task["predictions"][0]
    assert prediction["model_version"] == "knn_few_shot x qwen-0.5b" and prediction["score"] == 0.6
    assert [(r["value"]["text"], r["value"]["labels"], r["score"]) for r in prediction["result"]] == [
        ("Anna Schmidt", ["PER"], 0.9),
        ("Lisbon", ["LOC"], 0.6),
    ]
    assert "score" not in tasks_for(SELECTION)[1]["predictions"][0]["result"][0]  # no confidence: no score


def test_a_recorded_export_gives_back_what_annotators_submitted():
    check_round_trip(recorded("export.json"))


def test_majority_keeps_only_the_spans_most_annotators_marked():
    result = read_export(recorded("export.json"), SELECTION, CONLL_2003, rule="majority")
    # one of two annotators is not a majority: only Paris (both said ORG) survives
    assert result.sentences.set_index("sentence_id").loc[104, "expert_tags"] == ["B-ORG", "O", "O", "O"]


def test_the_first_submitted_annotation_wins_whatever_the_export_order():
    export = recorded("export.json")
    export[3]["annotations"].reverse()
    tags = read_export(export, SELECTION, CONLL_2003).sentences.set_index("sentence_id").loc[104, "expert_tags"]
    assert tags == SUBMITTED[104][0]


def test_overlapping_regions_are_an_error_naming_the_task():
    refused = recorded("refused.json")
    overlap = [t for t in refused if t["data"]["sentence_id"] == 102]
    with pytest.raises(
        ValueError, match=rf"refused.json: task {overlap[0]['id']} .*'Acme Corp' \(ORG\) and 'Corp' \(LOC\) overlap"
    ):
        read_export(overlap, SELECTION, CONLL_2003, source="refused.json")


def test_a_label_outside_the_label_set_is_an_error_naming_the_task():
    refused = recorded("refused.json")
    city = [t for t in refused if t["data"]["sentence_id"] == 104]
    with pytest.raises(ValueError, match=rf"task {city[0]['id']} .*label 'CITY' is not in the label set"):
        read_export(city, SELECTION, CONLL_2003)


def test_foreign_or_duplicated_tasks_and_other_formats_are_refused():
    export = recorded("export.json")
    with pytest.raises(ValueError, match="not among the 1 exported sentences"):
        read_export(export, SELECTION.iloc[:1], CONLL_2003)
    with pytest.raises(ValueError, match="sentence 101 is also task"):
        read_export(export + [copy.deepcopy(export[0])], SELECTION, CONLL_2003)
    with pytest.raises(ValueError, match="JSON_MIN"):
        read_export([{"id": 1, "data": export[0]["data"], "label": []}], SELECTION, CONLL_2003)
    with pytest.raises(ValueError, match="label_studio.rule must be one of"):
        read_export(export, SELECTION, CONLL_2003, rule="vote")


def test_an_unreachable_server_is_one_clear_error():
    with pytest.raises(LabelStudioError, match=r"unreachable .*make label-studio"):
        LabelStudioClient(f"http://127.0.0.1:{free_port()}", "some-token").project("p", "<View/>")
    with pytest.raises(LabelStudioError, match="needs label_studio.url and an api_key"):
        LabelStudioClient("http://127.0.0.1:1", "")


@pytest.mark.slow
@pytest.mark.skipif(not LABEL_STUDIO.exists(), reason="no Label Studio: `make label-studio-install`")
def test_round_trip_through_a_real_label_studio_server(tmp_path):
    server = LabelStudioServer(tmp_path)
    try:
        export, refused = run_session(server)
        with pytest.raises(LabelStudioError, match="refused the token"):
            LabelStudioClient(server.url, "not-a-token").export(1)
    finally:
        server.stop()
    check_round_trip(export)
    with pytest.raises(ValueError, match="overlap"):
        read_export(refused, SELECTION, CONLL_2003)


def test_tasks_from_a_pool_read_back_from_parquet_keep_their_scores(tmp_path):
    # parquet gives the entity confidences back as arrays, not lists
    SELECTION.to_parquet(tmp_path / "pool.parquet")
    import pandas as pd

    task = tasks_for(pd.read_parquet(tmp_path / "pool.parquet"))[0]
    assert [r["score"] for r in task["predictions"][0]["result"]] == [0.9, 0.6]
