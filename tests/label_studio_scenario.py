"""One annotation session on a real Label Studio server, used by the round-trip test and to record
the export fixtures of the file-based tests (tests/data/label_studio/):

    LABEL_STUDIO_VENV=.venv-label-studio .venv/bin/python tests/label_studio_scenario.py

The sentences are made up for the tests (no corpus text is committed). What the annotators do:

* sentence 1: accepted as predicted; 2: the LLM's ORG "Acme" corrected to "Acme Corp";
* 3: skipped (cancelled); 4: two annotators who disagree on "Rome";
* 5: a region that cuts a token ("Nile Cu" of "Nile Cup") and one with a trailing space;
* 6: nobody opens it; 7: selected but never imported (missing from the export);
* a second project holds what must be refused: overlapping regions, a label outside the set.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

from llm_ner.label_studio import LabelStudioClient, labeling_config, tasks_for
from llm_ner.tags import CONLL_2003, bio_to_spans

FIXTURES = Path(__file__).parent / "data" / "label_studio"

SELECTION = pd.DataFrame(
    {
        "sentence_id": [101, 102, 103, 104, 105, 106, 107],
        "tokens": [
            ["Anna", "Schmidt", "flew", "to", "Lisbon", "."],
            ["Acme", "Corp", "hired", "Bob", "."],
            ["Nothing", "to", "see", "."],
            ["Paris", "beat", "Rome", "."],
            ["The", "Nile", "Cup", "in", "Cairo", "."],
            ["Quiet", "day", "."],
            ["Never", "imported", "."],
        ],
        "llm_tags": [
            ["B-PER", "I-PER", "O", "O", "B-LOC", "O"],
            ["B-ORG", "O", "O", "B-PER", "O"],
            ["O", "O", "O", "O"],
            ["B-LOC", "O", "B-LOC", "O"],
            ["O", "B-LOC", "O", "O", "B-LOC", "O"],
            ["O", "O", "O"],
            ["O", "O", "O"],
        ],
        "strategy": "knn_few_shot",
        "model": "qwen-0.5b",
        "entity_confidence": [
            [
                {"start": 0, "end": 2, "type": "PER", "confidence": 0.9},
                {"start": 4, "end": 5, "type": "LOC", "confidence": 0.6},
            ],
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        "sentence_confidence": [0.6, 0.4, 1.0, 0.5, 0.3, 1.0, 1.0],
    }
)
# the tags the annotators submit (what the round trip must give back), and their seconds
SUBMITTED = {
    101: (["B-PER", "I-PER", "O", "O", "B-LOC", "O"], 4.5),
    102: (["B-ORG", "I-ORG", "O", "B-PER", "O"], 12.0),
    104: (["B-ORG", "O", "B-LOC", "O"], 7.0),  # the owner: Paris is a team here
    105: (["O", "B-MISC", "I-MISC", "O", "B-LOC", "O"], 9.5),
}
SECOND_ANNOTATOR_104 = (["B-ORG", "O", "B-ORG", "O"], 6.0)


def region(task: dict, start: int, end: int, label: str) -> dict:
    text = task["data"]["text"]
    return {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
    }


def regions_of(task: dict, tags: list[str]) -> list[dict]:
    starts, ends = task["data"]["token_starts"], task["data"]["token_ends"]
    return [region(task, starts[s.start], ends[s.end - 1], s.label) for s in bio_to_spans(tags)]


def run_session(server) -> tuple[list[dict], list[dict]]:
    """Push the tasks through our client, annotate them as people would, pull both exports."""
    client = LabelStudioClient(server.url, server.token)
    config = labeling_config(CONLL_2003)
    project = client.project("llm-ner round trip", config)
    tasks = tasks_for(SELECTION.iloc[:6])
    assert client.import_tasks(project, tasks) == 6
    assert client.import_tasks(project, tasks) == 0  # a rerun imports nothing twice
    assert client.project("llm-ner round trip", config) == project
    second = server.annotator("second@example.com", "second-pass-2")
    by_sentence = {t["data"]["sentence_id"]: t for t in server.owner.tasks(project)}
    owner = server.owner
    accepted = by_sentence[101]
    owner.submit(
        accepted,
        [{k: r[k] for k in ("from_name", "to_name", "type", "value")} for r in accepted["predictions"][0]["result"]],
        SUBMITTED[101][1],
    )
    owner.submit(by_sentence[102], regions_of(by_sentence[102], SUBMITTED[102][0]), SUBMITTED[102][1])
    owner.submit(by_sentence[103], [], 2.0, cancelled=True)
    owner.submit(by_sentence[104], regions_of(by_sentence[104], SUBMITTED[104][0]), SUBMITTED[104][1])
    second.submit(by_sentence[104], regions_of(by_sentence[104], SECOND_ANNOTATOR_104[0]), SECOND_ANNOTATOR_104[1])
    nile = by_sentence[105]  # "The Nile Cup in Cairo .": "Nile Cu" cuts "Cup"; "Cairo " ends with a space
    owner.submit(nile, [region(nile, 4, 11, "MISC"), region(nile, 16, 22, "LOC")], SUBMITTED[105][1])
    export = client.export(project)

    refused = client.project("llm-ner refused", config)
    client.import_tasks(refused, tasks_for(SELECTION.iloc[1:2]) + tasks_for(SELECTION.iloc[3:4]))
    bad = {t["data"]["sentence_id"]: t for t in owner.tasks(refused)}
    owner.submit(bad[102], [region(bad[102], 0, 9, "ORG"), region(bad[102], 5, 9, "LOC")], 3.0)  # overlap
    owner.submit(bad[104], [region(bad[104], 0, 5, "LOC"), region(bad[104], 11, 15, "CITY")], 3.0)
    return export, client.export(refused)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from label_studio_server import LabelStudioServer

    with tempfile.TemporaryDirectory() as scratch:
        server = LabelStudioServer(Path(scratch))
        try:
            export, refused = run_session(server)
        finally:
            server.stop()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / "export.json").write_text(json.dumps(export, indent=1) + "\n")
    (FIXTURES / "refused.json").write_text(json.dumps(refused, indent=1) + "\n")
    print(f"recorded {len(export)} + {len(refused)} tasks in {FIXTURES}")
