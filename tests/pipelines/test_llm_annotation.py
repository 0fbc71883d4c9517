"""The llm_annotation pipeline through the real `kedro` CLI (conf/test) against a local fake OpenAI server:
outputs, the zero-call rerun, and a run killed halfway that resumes paying only for what is missing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer, Lifecycle, capitalised_words_responder  # tests/ is on sys.path

from llm_ner.corpus import load_split
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.metrics import entity_scores
from llm_ner.pipelines.llm_annotation.nodes import label_training_pool

KEDRO = str(Path(sys.executable).parent / "kedro")


def prepared_project(project: Path) -> Path:
    """The sentence tables the data_analysis pipeline would write, trimmed as conf/test does."""
    folder = project / "data/02_intermediate"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        load_split(split).head(300).to_parquet(folder / f"{split}_sentences.parquet")
    return project


def kedro_run(
    project: Path,
    server: FakeOpenAIServer | None,
    wait: bool = True,
    base_url: str | None = None,
    expect_success: bool = True,
    params: tuple[str, ...] = (),
):
    command = [
        KEDRO,
        "run",
        "--pipeline",
        "llm_annotation",
        "--env",
        "test",
        "--params",
        ",".join([f"llm_models.fake-llm.base_url={base_url or server.base_url}", *params]),
    ]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "LLM_NER_TEST_API_KEY": "sk-pipeline-secret"}
    if not wait:
        return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    if expect_success:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def cached_user_prompts(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        requests = [json.loads(r[0]) for r in connection.execute("SELECT request FROM responses")]
    return {next(m["content"] for m in reversed(r["messages"]) if m["role"] == "user") for r in requests}


def latest(project: Path, relative: str) -> Path:
    return sorted((project / relative).glob("*/*"))[-1]  # versioned datasets: <name>/<version>/<name>


@pytest.mark.slow
def test_pipeline_outputs_and_a_rerun_makes_zero_calls(project_copy):
    project = prepared_project(project_copy)
    with FakeOpenAIServer(capitalised_words_responder) as server:
        kedro_run(project, server)
        first_run_requests = len(server.requests)
        kedro_run(project, server)
        assert len(server.requests) == first_run_requests  # everything answered from the cache

    # 4 validation sentences x 3 strategies + 6 pool sentences, each asked exactly once
    assert first_run_requests == 4 * 3 + 6 and max(server.attempts.values()) == 1
    quality = pd.read_csv(latest(project, "data/08_reporting/markup_quality.csv"))
    assert sorted(quality["strategy"]) == ["few_shot", "knn_few_shot", "span_json"]
    assert {
        "f1",
        "macro_f1",
        "PER_f1",
        "parse_failure_rate",
        "repaired_rate",
        "seconds_per_sentence",
        "input_tokens",
        "output_tokens",
        "label_cost_usd",
        "spend_usd",
        "confidence_auroc",
    } <= set(quality.columns)
    assert (quality["api_calls"] == 0).all() and (quality["cache_hits"] == 4).all()  # the rerun's table
    assert (quality["label_cost_usd"] > 0).all() and (
        quality["spend_usd"] == 0
    ).all()  # priced in conf/test; rerun paid 0

    labels = pd.read_parquet(latest(project, "data/05_model_input/llm_labels.parquet"))
    assert list(labels.columns) == [
        "sentence_id",
        "document_id",
        "tokens",
        "gold_tags",
        "llm_tags",
        "status",
        "failure_reason",
        "strategy",
        "model",
        "entity_confidence",
        "sentence_confidence",
    ]
    assert len(labels) == 6 and set(labels["status"]) <= {"ok", "repaired"}
    assert all(len(t) == len(g) == len(k) for t, g, k in zip(labels["tokens"], labels["gold_tags"], labels["llm_tags"]))
    chosen = json.loads((project / "data/08_reporting/llm_labeller.json").read_text())
    assert labels["strategy"].unique().tolist() == [chosen["strategy"]]
    estimate = pd.read_csv(latest(project, "data/08_reporting/llm_cost_estimate.csv"))
    assert set(estimate["stage"]) == {"quality", "labelling"}
    first, rerun = (
        json.loads(p.read_text()) for p in sorted((project / "data/08_reporting/llm_spend.json").glob("*/*"))
    )
    assert rerun["labelling"]["api_calls"] == 0 and rerun["labelling"]["cache_hits"] == 6
    # the rerun paid nothing, but the labels cost what they cost
    assert first["total"]["spend_usd"] > 0 and rerun["total"]["spend_usd"] == 0
    assert rerun["total"]["label_cost_usd"] == pytest.approx(first["total"]["label_cost_usd"])
    assert first["total"]["api_calls"] == 18 and rerun["total"]["cache_hits"] == 18
    gold = pd.read_csv(project / "data/08_reporting/llm_gold_usage.csv").set_index("purpose")
    # conf/test chooses the best pair on 4 validation sentences: those gold labels chose the labeller
    assert gold.at["model_selection", "sentences"] == 4
    assert (
        gold.at["demonstrations", "sentences"]
        == {"knn_few_shot": 20, "few_shot": 3, "span_json": 0}[chosen["strategy"]]
    )
    assert "sk-pipeline-secret" not in (project / "data/03_primary/llm_response_cache.sqlite").read_bytes().decode(
        "latin-1"
    )


@pytest.mark.slow
def test_simulated_source_labels_the_pool_at_its_target_label_f1_without_calling_the_llm(project_copy, shared_data):
    project = prepared_project(project_copy)
    profile_from = shared_data / "seed_llm_annotations/llm_train_head.conll"
    with FakeOpenAIServer(capitalised_words_responder) as server:
        kedro_run(
            project,
            server,
            params=(
                "llm_annotation.source=simulated",
                "llm_annotation.pool_size=200",
                f"llm_annotation.simulation.profile_from={profile_from}",
                "llm_annotation.simulation.target_label_f1=0.7",
            ),
        )
    assert len(server.requests) == 4 * 3  # the markup quality sample only: the pool is not sent to the LLM
    labels = pd.read_parquet(latest(project, "data/05_model_input/llm_labels.parquet"))
    assert len(labels) == 200 and set(labels["model"]) == {"simulated@0.70"} and set(labels["status"]) == {"ok"}
    f1 = entity_scores(list(labels["gold_tags"]), list(labels["llm_tags"])).loc["micro", "f1"]
    assert abs(f1 - 0.7) <= 0.02
    spend = json.loads(latest(project, "data/08_reporting/llm_spend.json").read_text())["labelling"]
    assert spend["source"] == "simulated" and spend["label_f1"] == pytest.approx(f1, abs=1e-4)
    # the seed file's sentences among conf/test's 300 train sentences: the profile is measured on those
    assert 100 < spend["profile_sentences"] < 300 and 0.3 < spend["profile_label_f1"] < 0.6
    assert spend["label_cost_usd"] == 0
    gold = pd.read_csv(project / "data/08_reporting/llm_gold_usage.csv").set_index("purpose")
    assert gold.at["demonstrations", "sentences"] == 0 and "what-if" in gold.at["demonstrations", "what"]


@pytest.mark.slow
def test_batch_mode_labels_as_online_at_half_the_spend_and_a_run_that_only_submits_is_collected_later(project_copy):
    project = prepared_project(project_copy)
    batch = (
        "llm_annotation.mode=batch",
        "llm_annotation.batch.wait=false",
        "llm_annotation.cache_path=data/03_primary/batch_cache.sqlite",
    )
    with FakeOpenAIServer(capitalised_words_responder, lifecycles=lambda n: Lifecycle(polls=1)) as server:
        kedro_run(project, server)
        online_labels = pd.read_parquet(latest(project, "data/05_model_input/llm_labels.parquet"))
        online_spend = json.loads(latest(project, "data/08_reporting/llm_spend.json").read_text())
        chats = len(server.requests)
        # submitted, not finished: the run stops with one line and writes no labels
        for waiting in (12, 6):  # the quality sample's 4 x 3 strategies, then the pool the chosen pair labels
            stopped = kedro_run(project, server, expect_success=False, params=batch)
            output = stopped.stdout + stopped.stderr
            assert stopped.returncode != 0 and "Traceback" not in output
            assert f"Error: BatchPending: model 'fake-llm': {waiting} requests wait in 1 batch job(s)" in output, (
                output[-3000:]
            )
        kedro_run(project, server, params=batch)
        assert server.calls["batches.create"] == 2 and len(server.requests) == chats  # not one online request
    labels = pd.read_parquet(latest(project, "data/05_model_input/llm_labels.parquet"))
    pd.testing.assert_frame_equal(labels, online_labels)
    spend = json.loads(latest(project, "data/08_reporting/llm_spend.json").read_text())
    assert spend["labelling"]["mode"] == "batch" and online_spend["labelling"]["mode"] == "online"
    assert (
        spend["total"]["batch_calls"] == spend["total"]["api_calls"] == 18 - 12
    )  # the quality replies: an earlier run
    assert spend["labelling"]["spend_usd"] == pytest.approx(online_spend["labelling"]["spend_usd"] / 2)
    assert spend["total"]["label_cost_usd"] == pytest.approx(online_spend["total"]["label_cost_usd"] / 2)


@pytest.mark.slow
def test_a_killed_run_resumes_and_pays_only_for_what_is_missing(project_copy):
    project = prepared_project(project_copy)
    with FakeOpenAIServer(capitalised_words_responder, delay_s=0.4) as server:
        process = kedro_run(project, server, wait=False)
        deadline = time.time() + 120
        while sum(server.completed.values()) < 5 and time.time() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        requests_before = len(server.requests)
        answered_before = cached_user_prompts(project / "data/03_primary/llm_response_cache.sqlite")
        assert 4 <= len(answered_before) < 18  # killed halfway; a reply in flight at the kill is lost, not cached

        kedro_run(project, server)
        resumed = [r["user"] for r in server.requests[requests_before:]]
    assert not answered_before & set(resumed)  # nothing answered before was paid for again
    assert len(set(resumed)) + len(answered_before) == 18  # and nothing is missing
    labels = pd.read_parquet(latest(project, "data/05_model_input/llm_labels.parquet"))
    assert len(labels) == 6


@pytest.mark.slow
@pytest.mark.parametrize("failure, stops_within", [("key", 2), ("quota", 2), ("down", 4 * 3), ("dead", None)])
def test_a_misconfigured_llm_stops_the_run_with_one_clear_line(project_copy, failure, stops_within):
    """Wrong key (401), exhausted quota, a server rate-limiting everything, a dead host: each stops
    the run with a non-zero exit and a line naming model and endpoint -- never exit 0 with empty labels."""
    import socket

    project = prepared_project(project_copy)
    actions = {"key": ("status", 401), "quota": ("status", 429, "insufficient_quota"), "down": ("status", 429)}
    if failure == "dead":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base_url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
        result = kedro_run(project, None, base_url=base_url, expect_success=False)
        requests = None
    else:
        with FakeOpenAIServer(lambda user, attempt: actions[failure]) as server:
            started = time.time()
            result = kedro_run(project, server, expect_success=False)
            requests = len(server.requests)
            base_url = server.base_url
        assert time.time() - started < 60
    output = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [
        line for line in output.splitlines() if "LLMServiceError" in line and "'fake-llm'" in line and base_url in line
    ]
    assert lines and lines[-1].startswith("Error: LLMServiceError: model 'fake-llm'"), output[-3000:]
    assert "Traceback" not in output and "sk-pipeline-secret" not in output
    if requests is not None:
        assert requests <= stops_within  # conf/test: 2 requests in flight, 3 failures in a row, 2 retries
    assert not (project / "data/05_model_input/llm_labels.parquet").exists()


def test_imported_labels_with_nothing_evaluated_leave_tables_that_load_back(tmp_path):
    """`evaluate` emptied (labels imported, no LLM to score): the estimate and markup tables are
    saved with a header -- a CSV with no columns at all would not load (EmptyDataError)."""
    from llm_ner.pipelines.llm_annotation.nodes import estimate_costs, evaluate_markup_quality

    settings = parse_llm_settings(
        {
            "source": "import",
            "import_path": "labels.conll",
            "cache_path": str(tmp_path / "c"),
            "evaluate": {"strategies": [], "models": []},
        },
        {},
        {},
        {},
    )
    empty = pd.DataFrame({"tokens": [], "ner_tags": []})
    estimate = estimate_costs(empty, empty, empty, settings)
    quality, _, _ = evaluate_markup_quality(empty, empty, estimate, settings)
    for table in (estimate, quality):
        table.to_csv(tmp_path / "table.csv", index=False)
        assert pd.read_csv(tmp_path / "table.csv").empty


def test_import_source_and_failed_sentence_policy(tmp_path):
    train = pd.DataFrame(
        {
            "sentence_id": [0, 1, 2],
            "document_id": [0, 0, 1],
            "tokens": [["EU", "rejects", "it"], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]],
            "ner_tags": [["B-ORG", "O", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"]],
        }
    )
    conll = tmp_path / "labels.conll"
    conll.write_text("Peter B-PER\nBlackburn I-PER\n\nEU [CLS]\nrejects I-MISC\nit O\n\nUnmatched O\nsentence O\n")
    params = {
        "source": "import",
        "import_path": str(conll),
        "failed_sentences": "drop",
        "cache_path": str(tmp_path / "c"),
    }
    settings = parse_llm_settings(params, {}, {}, {})
    labels, spend = label_training_pool(train.head(0), train.head(0), train, settings)
    assert labels["sentence_id"].tolist() == [1, 0]
    assert list(labels.loc[1, "llm_tags"]) == ["O", "B-MISC", "O"] and labels.loc[1, "status"] == "repaired"
    assert spend["invalid_tag_count"] == 1 and spend["unmatched"] == 1 and spend["api_calls"] == 0
    assert spend["spend_usd"] == 0 and labels["sentence_confidence"].isna().all()
    with pytest.raises(
        ValueError, match="llm_annotation.source: Input should be 'annotate', 'import' or 'simulated', got 'psychic'"
    ):
        parse_llm_settings({**params, "source": "psychic"}, {}, {}, {})
    with pytest.raises(ValueError, match="source 'simulated' needs simulation.profile_from"):
        parse_llm_settings({**params, "source": "simulated"}, {}, {}, {})
    with pytest.raises(
        ValueError, match="llm_annotation.simulation.target_label_f1: Input should be less than or equal to 1"
    ):
        parse_llm_settings({**params, "simulation": {"target_label_f1": 1.5}}, {}, {}, {})
    with pytest.raises(
        ValueError, match="llm_annotation.failed_sentences: Input should be 'drop' or 'all_o', got 'keep'"
    ):
        parse_llm_settings({**params, "failed_sentences": "keep"}, {}, {}, {})
