"""The own_text route end to end: raw documents written here (odd punctuation, CRLF, an empty file,
a sentence too long for the encoder, a JSONL file) through `kedro run --pipelines own_text` against
the fake OpenAI server and a real Label Studio server, in which the test labels each set through
Label Studio's API as a person's browser does. Each run stops until people have labelled what it
waits for; the last one trains the students and writes the exports and the page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fake_openai_server import FakeOpenAIServer, capitalised_words_responder
from label_studio_server import LabelStudioServer

KEDRO = str(Path(sys.executable).with_name("kedro"))
PEOPLE_NAMES = {"Anna", "Karl", "Maria", "Jonas", "Petra"}  # the "people" mark these PER, other capitals LOC

DOCUMENTS = {
    "harbour.txt": (
        "Anna Berg met Karl Ode in Bergen on Monday. They talked about Oslo, Trondheim and Stavanger!\n\n"
        'Maria -- who runs the Lofoten office -- said: "Tromsø is next." Nobody in Narvik agreed.\r\n\r\n'
        "Was Jonas in Kiel (or Lübeck)? Petra thinks so; Hamburg says no.\n"
    ),
    "notes.txt": (
        "Shipping notes for Rotterdam. Delays hit Antwerp again.\n\n"
        "Karl flew to Madrid, then Lisbon, then Porto. Anna stayed in Paris.\n\n"
        "Prices rose in Vienna... and fell in Prague? Maria went to Warsaw.\n"
    ),
    "empty.txt": "",
    "long.txt": "Jonas listed the ports " + ", ".join(f"Port{i} in Region{i}" for i in range(70)) + ".\n",
}
JSONL = [
    {"id": "brief-1", "text": "Petra visited Geneva. Then Zurich, then Basel.", "source": "wire"},
    {"id": "brief-2", "text": "Anna called Karl from Dublin. Cork was quiet. Galway too.", "source": "wire"},
]


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    (folder / "briefs.jsonl").write_text("\n".join(json.dumps(r) for r in JSONL) + "\n", encoding="utf-8")
    return folder


def person_regions(task: dict) -> list[dict]:
    """A person's labels: known first names PER, other capitalised words after the first LOC."""
    text, regions = task["data"]["text"], []
    for i, (start, end) in enumerate(zip(task["data"]["token_starts"], task["data"]["token_ends"])):
        word = text[start:end]
        if i == 0 and word not in PEOPLE_NAMES or not (word[:1].isupper() and word.isalpha()):
            continue
        label = "PER" if word in PEOPLE_NAMES else "LOC"
        value = {"start": start, "end": end, "text": word, "labels": [label]}
        regions.append({"id": f"r{i}", "from_name": "label", "to_name": "text", "type": "labels", "value": value})
    return regions


def label_project(server: LabelStudioServer, title: str, skip: int = 0) -> int:
    """People label every task of project ``title`` (skipping the first ``skip``), 4 s a task."""
    project = next(p for p in server.owner.call("GET", "/api/projects")["results"] if p["title"] == title)
    tasks = server.owner.tasks(project["id"])
    for i, task in enumerate(tasks):
        server.owner.submit(task, person_regions(task), lead_time=4.0, cancelled=i < skip)
    return len(tasks)


def run_route(project: Path, documents: Path, server: LabelStudioServer, llm: FakeOpenAIServer):
    params = f"own_text.documents={documents},llm_models.fake-llm.base_url={llm.base_url}"
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "LABEL_STUDIO_URL": server.url,
        "LABEL_STUDIO_API_KEY": server.token,
    }
    return subprocess.run(
        [KEDRO, "run", "--env", "test", "--pipelines", "own_text", "--params", params],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def assert_stopped_waiting_for(result, count: int, project: str) -> None:
    assert result.returncode != 0
    assert f"AnnotationsPending: {count} of {count} tasks wait in Label Studio project '{project}'" in result.stderr


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_every_span_at_its_characters(records: list[dict], documents: dict[str, str]) -> None:
    for record in records:
        document, offset = documents[record["meta"]["document_id"]], record["meta"]["offset"]
        assert document[offset : offset + len(record["text"])] == record["text"]
        for span in record["spans"]:
            assert record["text"][span["start"] : span["end"]] == span["text"]
            assert document[offset + span["start"] : offset + span["end"]] == span["text"]


@pytest.mark.slow
def test_raw_documents_to_a_tagger_through_people_in_label_studio(project_copy, documents, tmp_path):
    server_dir = tmp_path / "label_studio"
    server_dir.mkdir()
    server = LabelStudioServer(server_dir)
    try:
        with FakeOpenAIServer(capitalised_words_responder) as llm:
            first = run_route(project_copy, documents, server, llm)
            assert_stopped_waiting_for(first, 6, "own_text evaluation")
            assert not llm.requests  # nothing is paid for before the evaluation set is in
            assert label_project(server, "own_text evaluation") == 6

            second = run_route(project_copy, documents, server, llm)
            assert_stopped_waiting_for(second, 4, "own_text labeller")
            label_project(server, "own_text labeller")

            third = run_route(project_copy, documents, server, llm)
            assert_stopped_waiting_for(third, 4, "own_text budget")
            label_project(server, "own_text budget", skip=1)

            last = run_route(project_copy, documents, server, llm)
            assert last.returncode == 0, last.stderr[-3000:]
            prompts = [r["user"] for r in llm.requests]
    finally:
        server.stop()
    check_outputs(project_copy / "data", documents, prompts)


def check_outputs(data: Path, folder: Path, prompts: list[str]) -> None:
    texts = {p.stem: p.read_bytes().decode("utf-8").removeprefix("\ufeff") for p in folder.glob("*.txt")}
    texts.update({r["id"]: r["text"] for r in JSONL})
    parts = pd.read_parquet(data / "05_model_input/own_text/parts.parquet")
    assert "split" in set(parts["status"])  # the long sentence, in parts, none dropped
    counts = pd.read_csv(data / "08_reporting/own_text/document_counts.csv").set_index("document_id")
    assert counts.loc["empty", "status"] == "empty" and len(counts) == len(texts)

    exports = {
        name: read_jsonl(data / f"07_model_output/own_text/{name}_labels.jsonl") for name in ("llm", "people", "model")
    }
    for records in exports.values():
        assert_every_span_at_its_characters(records, texts)
    assert len(exports["model"]) == len(parts)
    assert all(any(r["spans"] for r in exports[name]) for name in ("llm", "people"))

    evaluation = set(parts.loc[parts["part"] == "evaluation", "sentence_id"])
    assert len(evaluation) == 6
    trained = {r["meta"]["sentence_id"] for r in exports["llm"]} | {
        r["meta"]["sentence_id"] for r in exports["people"] if r["meta"]["part"] != "evaluation"
    }
    assert not evaluation & trained
    selection = pd.read_parquet(data / "05_model_input/own_text/budget_selection.parquet")
    assert not evaluation & set(selection["sentence_id"])
    # no evaluation sentence is ever a demonstration: in each prompt, only the last sentence is the query
    evaluation_tokens = {" ".join(t) for t in parts.loc[parts["part"] == "evaluation", "tokens"]}
    for prompt in prompts:
        demonstrations = re.findall(r"Sentence: '(.*?)'", prompt)[:-1]
        assert not evaluation_tokens & set(demonstrations)

    summary = json.loads((data / "08_reporting/own_text/summary.json").read_text())
    gold = {row["purpose"]: row for row in summary["gold"]}
    assert gold["evaluation (never trained on)"]["sentences"] == 6
    assert gold["expert budget"]["skipped"] == 1 and gold["expert budget"]["sentences"] == 3
    assert summary["people_seconds"] == pytest.approx(4.0 * 14)  # every task, the skipped one too
    for row in summary["quality"]:
        assert 0 <= row["f1_low"] <= row["f1"] <= row["f1_high"] <= 1
    page = (data / "08_reporting/own_text/report.html").read_text()
    assert re.search(r"F1 \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", page)
    assert "LLM: $" in page and "h measured in Label Studio" in page
    runs = pd.read_csv(data / "08_reporting/own_text/student_runs.csv")
    assert set(runs["regimen"]) == {"D_llm_then_gold", "A_gold"} and runs["seed"].nunique() == 3


def test_gold_imported_from_a_span_jsonl_file_is_the_evaluation_set_and_never_the_pool(documents, tmp_path):
    from llm_ner.documents import read_documents, segment
    from llm_ner.interchange import span_records, write_span_jsonl
    from llm_ner.parameters import check_parameters
    from llm_ner.pipelines.own_text.nodes import RouteSetup, choose_parts, evaluation_labels, evaluation_tasks
    from llm_ner.settings import project_parameters
    from llm_ner.tags import CONLL_2003

    sentences = segment(read_documents(documents)).assign(status="ok")
    chosen = sentences.iloc[[1, 4, 6]].reset_index(drop=True)
    tags = [["B-LOC", *["O"] * (len(t) - 1)] for t in chosen["tokens"]]
    path = tmp_path / "gold.jsonl"
    write_span_jsonl(span_records(chosen, tags), path)
    conf = str(Path(__file__).resolve().parents[2] / "conf")
    runtime = {"own_text": {"evaluation": {"import_path": str(path)}, "labeller_set": {"size": 2}}}
    params = check_parameters(project_parameters("base", conf, runtime))["own_text"]
    setup = RouteSetup(params, CONLL_2003, protocol=None, grid=None)

    parts = choose_parts(sentences, setup)
    assert set(parts.loc[parts["part"] == "evaluation", "sentence_id"]) == set(chosen["sentence_id"])
    assert (parts["part"] == "labeller").sum() == 2
    assert evaluation_tasks(parts, setup) == []  # nothing to ask of people
    gold = evaluation_labels([], parts, setup, credentials={})
    assert list(gold["sentence_id"]) == list(chosen["sentence_id"]) and list(gold["expert_tags"]) == tags
    assert (gold["status"] == "labelled").all() and gold["lead_time_s"].isna().all()  # no time to charge


def test_evaluation_unit_documents_keeps_whole_documents_out_of_training(documents):
    from llm_ner.documents import read_documents, segment
    from llm_ner.parameters import check_parameters
    from llm_ner.pipelines.own_text.nodes import RouteSetup, choose_parts
    from llm_ner.settings import project_parameters
    from llm_ner.tags import CONLL_2003

    sentences = segment(read_documents(documents)).assign(status="ok")
    conf = str(Path(__file__).resolve().parents[2] / "conf")
    runtime = {"own_text": {"evaluation": {"unit": "documents", "size": 3}, "labeller_set": {"size": 2}}}
    params = check_parameters(project_parameters("base", conf, runtime))["own_text"]
    parts = choose_parts(sentences, RouteSetup(params, CONLL_2003, protocol=None, grid=None))
    held_out = set(parts.loc[parts["part"] == "evaluation", "document_id"])
    assert held_out and (parts["part"] == "evaluation").sum() >= 3
    assert not held_out & set(parts.loc[parts["part"] != "evaluation", "document_id"])
