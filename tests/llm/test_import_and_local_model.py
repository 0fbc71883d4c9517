"""External CoNLL labels (the seed's recorded llama3.1-405b output) and the embedded local GGUF model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from llm_ner.corpus import load_split
from llm_ner.llm import local_model
from llm_ner.llm.annotate import LabellingJob, annotate_replies
from llm_ner.llm.backends import make_backend
from llm_ner.llm.cache import ResponseCache
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.local_model import LocalModelSpec, ensure_local_model
from llm_ner.llm.prompts import PromptStrategy
from llm_ner.llm.settings import model_settings
from llm_ner.metrics import entity_scores

PROJECT_MODELS = Path(__file__).resolve().parents[2] / "data" / "06_models"


def test_seed_llm_labels_import_scores_0_456(shared_data):
    train = load_split("train")
    labels, report = import_conll_labels(shared_data / "seed_llm_annotations/llm_train_head.conll", train)
    assert report["sentences_in_file"] == report["matched"] == 2037 and report["unmatched"] == 0
    assert report["invalid_tags"] == {"[CLS]": 8, "[SEP]": 1}  # counted, then repaired to O
    assert all(tokens == list(train.at[sid, "tokens"]) for sid, tokens in zip(labels["sentence_id"], labels["tokens"]))
    scores = entity_scores(list(labels["gold_tags"]), list(labels["llm_tags"]))
    assert scores.at["micro", "f1"] == pytest.approx(0.456, abs=0.001)


def test_assembly_checks_the_pinned_sha256(tmp_path, monkeypatch):
    for i, chunk in enumerate([b"GGUF-part-one|", b"part-two"], start=1):
        package = tmp_path / "parts" / f"fake_model_part{i}"
        package.mkdir(parents=True)
        (package / "blob.bin").write_bytes(chunk)
        (package / "__init__.py").write_text(
            "import os\ndef get_part_path():\n    return os.path.join(os.path.dirname(__file__), 'blob.bin')\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path / "parts"))
    import hashlib

    good = hashlib.sha256(b"GGUF-part-one|part-two").hexdigest()
    spec = LocalModelSpec("tiny.gguf", ("fake_model_part1", "fake_model_part2"), good, "install the fake parts")
    monkeypatch.setitem(local_model.LOCAL_MODELS, "tiny", spec)
    path = ensure_local_model("tiny", tmp_path / "models")
    assert path.read_bytes() == b"GGUF-part-one|part-two"
    mtime = path.stat().st_mtime_ns
    assert ensure_local_model("tiny", tmp_path / "models").stat().st_mtime_ns == mtime  # assembled once

    monkeypatch.setitem(
        local_model.LOCAL_MODELS, "tiny-bad", LocalModelSpec("bad.gguf", spec.part_modules, "0" * 64, "x")
    )
    with pytest.raises(RuntimeError, match="does not match the pinned"):
        ensure_local_model("tiny-bad", tmp_path / "models")
    assert not (tmp_path / "models" / "bad.gguf").exists()  # a wrong file is never left to load
    monkeypatch.setitem(
        local_model.LOCAL_MODELS, "tiny-missing", LocalModelSpec("m.gguf", ("no_such_part_pkg",), good, "pip install X")
    )
    with pytest.raises(RuntimeError, match="pip install X"):
        ensure_local_model("tiny-missing", tmp_path / "models")
    with pytest.raises(ValueError, match="local model must be one of"):
        ensure_local_model("gpt-5", tmp_path)


@pytest.mark.slow
def test_real_local_gguf_model_labels_three_sentences(tmp_path):
    backend = make_backend(
        model_settings("qwen-0.5b", {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct", "n_ctx": 2048}),
        model_dir=PROJECT_MODELS,
    )
    strategy = PromptStrategy(
        name="span_json",
        reply="spans",
        system="You answer with JSON only.",
        user='List the named entities as JSON {"PER": [], "ORG": [], "LOC": [], "MISC": []}.\nSentence: $sentence',
    )
    sentences = load_split("valid").iloc[[1, 2, 4]].reset_index(drop=True)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        generation = {"max_tokens": 96, "temperature": 0.0, "stop": ["\nSentence:"]}
        run = annotate_replies(LabellingJob(strategy, backend, cache, [generation], show_progress=False), sentences)[0]
        again = annotate_replies(LabellingJob(strategy, backend, cache, [generation], show_progress=False), sentences)[
            0
        ]
    finally:
        backend.close()
    assert run.totals.api_calls == 3 and again.totals.api_calls == 0
    assert run.totals.input_tokens > 3 * 20 and run.totals.output_tokens > 0  # the model's own token counts
    assert set(run.labels["status"]) <= {"ok", "repaired", "failed"}
    usable = run.labels[run.labels["status"] != "failed"]
    assert len(usable) >= 2  # a 0.5B model still answers JSON for most sentences
    assert all(len(t) == len(k) for t, k in zip(usable["tokens"], usable["llm_tags"]))
    assert not any("\nSentence:" in reply for reply in run.labels["reply"])  # the stop sequence reached llama.cpp
    pd.testing.assert_frame_equal(
        run.labels.drop(columns=["api_calls", "cache_hits", "spend_usd"]),
        again.labels.drop(columns=["api_calls", "cache_hits", "spend_usd"]),
    )


@pytest.mark.slow
def test_real_local_model_honours_stop_sequences():
    backend = make_backend(
        model_settings("qwen-0.5b", {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct", "n_ctx": 1024}),
        model_dir=PROJECT_MODELS,
    )
    messages = [
        {
            "role": "user",
            "content": "Write three lines, each starting with 'Sentence:' followed by a short English sentence.",
        }
    ]
    try:
        free = backend.complete(messages, {"max_tokens": 30, "temperature": 0.0})
        stopped = backend.complete(messages, {"max_tokens": 30, "temperature": 0.0, "stop": ["\nSentence:"]})
    finally:
        backend.close()
    assert free.text.count("\nSentence:") >= 1  # the model does go on to a next line...
    assert "\nSentence:" not in stopped.text and stopped.text.startswith(
        "Sentence:"
    )  # ...and llama.cpp stops before it
