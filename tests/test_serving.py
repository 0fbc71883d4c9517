"""The tagger as an MLflow model: logged and registered, loaded back with `mlflow.pyfunc`, and served
by a real `mlflow models serve` process -- the same spans as the inference pipeline's core for the
same texts, its label schema kept with it, and every bad request a 4xx or a per-row status."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests
import torch
from label_studio_server import free_port

from llm_ner.inference import TaggingSettings, tag_documents
from llm_ner.model import Tagger
from llm_ner.serving import load_tagger_model, log_tagger_model

TEXTS = [
    "EU rejects German call to boycott British lamb.",
    "Peter Blackburn met officials in Brussels.\n\nThe European Commission said on Thursday it disagreed.",
]
LONG = " ".join(["Angela Merkel met Emmanuel Macron in Paris on Friday"] * 40) + "."
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tagger(tiny_tagger_config) -> Iterator[Tagger]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network gains nothing from threads
    yield Tagger.build(dataclasses.replace(tiny_tagger_config, max_subwords=64), seed=5)
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tagger):
    """An MLflow store of this test's own (sqlite, artifacts beside it) holding `tiny-tagger` version 1."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("serving", artifact_location=str(root / "artifacts")))
    log_tagger_model(tagger, TaggingSettings(), "tiny-tagger")
    yield uri
    mlflow.set_tracking_uri(previous)


def expected(tagger: Tagger, texts: list) -> list[dict]:
    return tag_documents(tagger, pd.DataFrame({"text": texts})).to_dict("records")


def test_the_registered_model_predicts_the_pipelines_spans(registry, tagger):
    model = mlflow.pyfunc.load_model("models:/tiny-tagger/1")
    predicted = model.predict(pd.DataFrame({"text": TEXTS}))
    assert predicted.to_dict("records") == expected(tagger, TEXTS)
    assert sum(len(r["spans"]) for r in predicted.to_dict("records")) > 0
    assert load_tagger_model("models:/tiny-tagger/1").tagger.labels == tagger.labels


def test_loading_the_model_for_another_label_schema_is_an_error(registry):
    with pytest.raises(ValueError, match=r"this model tags PER, ORG, LOC, MISC .* loaded for the entity types DRUG"):
        mlflow.pyfunc.load_model("models:/tiny-tagger/1", model_config={"labels": ["O", "B-DRUG", "I-DRUG"]})


@pytest.fixture(scope="module")
def server(registry, tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/tiny-tagger/1",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if requests.get(f"{url}/ping", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, Path(log.name).read_text()[-3000:]
            time.sleep(0.5)
        else:
            raise AssertionError("mlflow models serve did not answer /ping in 120 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def invoke(server: str, body) -> requests.Response:
    data = body if isinstance(body, str) else json.dumps(body)
    return requests.post(f"{server}/invocations", data=data, headers={"Content-Type": "application/json"}, timeout=60)


@pytest.mark.slow
def test_a_served_model_answers_with_the_pipelines_spans(server, tagger):
    response = invoke(server, {"dataframe_records": [{"text": t} for t in TEXTS]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected(tagger, TEXTS)


@pytest.mark.slow
def test_a_served_model_gives_bad_input_a_4xx_or_a_status_never_a_500_or_a_lost_row(server, tagger):
    malformed = invoke(server, '{"dataframe_records": [{"text": "Paris"')
    no_text = invoke(server, {"dataframe_records": [{"body": "Paris."}]})
    for response in (malformed, no_text):
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["message"]
    assert "text" in no_text.json()["message"]
    # pandas reads [42, null] as a float column and ["Paris.", 42] as objects: each row keeps its status
    for rows, statuses in (
        ([{"text": 42}, {"text": None}], ["got float", "got float"]),
        ([{"text": "Paris."}, {"text": 42}], ["ok", "got int"]),
    ):
        response = invoke(server, {"dataframe_records": rows})
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [p["status"].removeprefix("error: text must be a string, ") for p in predictions] == statuses
    rows = invoke(server, {"dataframe_records": [{"text": ""}, {"text": LONG}, {"text": "Paris."}]})
    assert rows.status_code == 200, rows.text
    predictions = rows.json()["predictions"]
    assert [p["status"] for p in predictions] == ["empty", "split", "ok"]
    assert predictions == expected(tagger, ["", LONG, "Paris."])
    assert max(span["end"] for span in predictions[1]["spans"]) > len(LONG) // 2  # split, never truncated
