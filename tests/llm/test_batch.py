"""Batch mode against the fake OpenAI server's Files and Batches endpoints, and vLLM's run-batch files."""

from __future__ import annotations

import dataclasses
import json
import logging

import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer, Lifecycle, chat_completion

from llm_ner.llm import batch as batch_module
from llm_ner.llm.backends import LLMServiceError
from llm_ner.llm.batch import BatchPending, BatchRequest, read_results, split_request_lines
from llm_ner.llm.costs import Price
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.llm.study import AnnotationStudy

SECRET = "sk-secret-test-key"
PRICES = {"fake-model": Price(input_per_million=1.0, output_per_million=2.0, batch_discount=0.5)}
SENTENCES = [
    "Anna Schmidt flew to Berlin .",
    "Paris is far from Rome .",
    "Nothing here .",
    "Oslo and Vienna met .",
    "Dublin called Prague .",
]
STRATEGIES = {
    "spans": {"reply": "spans", "user": "Entities as JSON.\nSentence: $sentence"},
    "verified": {"reply": "spans", "user": "Entities as JSON.\nSentence: $sentence", "self_verify": True},
}
VERIFICATION = {"user": "Check $sentence\n$candidates\nAnswer $n_candidates"}


def capitalised(user: str, attempt: int):
    """Every capitalised word after the first is a LOC; a verification prompt keeps them all."""
    if user.startswith("Check"):
        return ("reply", json.dumps(["yes"] * user.count(" as ")))
    words = user.rsplit("Sentence: ", 1)[-1].split()
    return ("reply", json.dumps({"LOC": [w for w in words[1:] if w[:1].isupper()]}))


def table(sentences=SENTENCES) -> pd.DataFrame:
    rows = [(i, 0, s.split(), ["O"] * len(s.split())) for i, s in enumerate(sentences)]
    return pd.DataFrame(rows, columns=["sentence_id", "document_id", "tokens", "ner_tags"])


def study(server: FakeOpenAIServer, tmp_path, cache="batch.sqlite", mode="batch", **batch) -> AnnotationStudy:
    annotation = {
        "cache_path": str(tmp_path / cache),
        "show_progress": False,
        "mode": mode,
        "batch": {
            "directory": str(tmp_path / "batches"),
            "poll_interval_s": 0.01,
            "poll_max_interval_s": 0.02,
            **batch,
        },
    }
    models = {"fake": {"backend": "openai", "model": "fake-model", "base_url": server.base_url, "max_retries": 0}}
    settings = parse_llm_settings(annotation, models, {"strategies": STRATEGIES, "verification": VERIFICATION}, PRICES)
    return AnnotationStudy(dataclasses.replace(settings, credentials={"api_key": SECRET}))


def label(server, tmp_path, strategy="spans", sentences=SENTENCES, **options):
    run_study = study(server, tmp_path, **options)
    try:
        return run_study.annotate(strategy, "fake", table(sentences), None)
    finally:
        run_study.close()


def state(tmp_path) -> dict:
    [path] = (tmp_path / "batches").glob("*/jobs.json")
    return json.loads(path.read_text())


def test_a_batch_run_labels_as_the_online_run_does_at_half_the_spend(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="llm_ner.llm.batch")
    with FakeOpenAIServer(capitalised) as server:
        online = label(server, tmp_path, cache="online.sqlite", mode="online")
        chats = len(server.requests)
        batched = label(server, tmp_path)
        assert len(server.requests) == chats  # no chat request: every reply came from the batch
        assert server.calls["files.create"] == 1 and server.calls["batches.create"] == 1
        rerun = label(server, tmp_path)
        assert server.calls["batches.create"] == 1 and len(server.requests) == chats
    columns = ["sentence_id", "llm_tags", "status", "failure_reason", "input_tokens", "output_tokens", "reply"]
    pd.testing.assert_frame_equal(online.labels[columns], batched.labels[columns])
    assert batched.labels["api_calls"].sum() == batched.labels["batch_calls"].sum() == len(SENTENCES)
    assert online.labels["batch_calls"].sum() == 0
    assert batched.labels["spend_usd"].sum() == pytest.approx(online.labels["spend_usd"].sum() / 2)
    assert online.labels["spend_usd"].sum() > 0
    # a cached rerun: nothing paid, and the labels still cost what they were bought at (the batch price)
    assert rerun.labels["spend_usd"].sum() == 0 and rerun.labels["cache_hits"].sum() == len(SENTENCES)
    assert rerun.labels["label_cost_usd"].sum() == pytest.approx(batched.labels["label_cost_usd"].sum())
    lifecycle = [r.getMessage() for r in caplog.records]
    assert any("submitted batch batch_1 with 5 requests" in line for line in lifecycle)
    assert any("in_progress" in line for line in lifecycle) and any(
        "completed, 5 of 5 done" in line for line in lifecycle
    )


def test_a_run_killed_while_the_batch_is_in_progress_resumes_without_a_second_create(tmp_path, monkeypatch):
    class Killed(BaseException):
        pass

    class KilledWhileWaiting:
        @staticmethod
        def sleep(seconds):
            raise Killed()

    with FakeOpenAIServer(capitalised, lifecycles=lambda n: Lifecycle(polls=3)) as server:
        with monkeypatch.context() as patch:
            patch.setattr(batch_module, "time", KilledWhileWaiting)
            with pytest.raises(Killed):
                label(server, tmp_path)
        assert server.calls["batches.create"] == 1
        assert state(tmp_path)["jobs"][0]["batch_id"] == "batch_1"
        resumed = label(server, tmp_path)
        assert server.calls["batches.create"] == 1 and server.calls["files.create"] == 1
    assert (resumed.labels["status"] == "ok").all() and resumed.labels["batch_calls"].sum() == len(SENTENCES)


def test_a_run_that_only_submits_stops_with_one_line_and_a_later_run_collects(tmp_path):
    with FakeOpenAIServer(capitalised, lifecycles=lambda n: Lifecycle(polls=2)) as server:
        with pytest.raises(
            BatchPending, match=r"5 requests wait in 1 batch job\(s\) \(batch_1: in_progress\); run again"
        ) as stop:
            label(server, tmp_path, wait=False)
        assert "\n" not in str(stop.value)
        # killed after creating the batch and before its id was saved: the rerun finds it by its input file
        path = next((tmp_path / "batches").glob("*/jobs.json"))
        book = json.loads(path.read_text())
        book["jobs"][0].update(batch_id=None, state="uploaded", status=None)
        path.write_text(json.dumps(book))
        collected = label(server, tmp_path)
        assert server.calls["batches.create"] == 1 and server.calls["batches.list"] == 1
    assert collected.labels["batch_calls"].sum() == len(SENTENCES)


def test_an_expired_batch_sends_again_only_the_requests_it_left(tmp_path):
    lifecycles = {0: Lifecycle("expired", answered=2), 1: Lifecycle("completed")}
    with FakeOpenAIServer(capitalised, lifecycles=lifecycles.get) as server:
        run = label(server, tmp_path)
        assert server.calls["batches.create"] == 2
        second = [json.loads(line) for line in server.files[server.batches["batch_2"]["input_file_id"]].splitlines()]
        first = [json.loads(line) for line in server.files[server.batches["batch_1"]["input_file_id"]].splitlines()]
    assert [line["custom_id"] for line in second] == [line["custom_id"] for line in first[2:]]
    assert (run.labels["status"] == "ok").all() and run.labels["batch_calls"].sum() == len(SENTENCES)
    assert [job["submission"] for job in state(tmp_path)["jobs"]] == [1, 2]


def test_a_batch_that_keeps_expiring_fails_what_is_left_after_max_submissions(tmp_path):
    with FakeOpenAIServer(capitalised, lifecycles=lambda n: Lifecycle("expired", answered=1)) as server:
        run = label(server, tmp_path, max_submissions=2, failed_requests="failed")
        assert server.calls["batches.create"] == 2 and len(server.requests) == 0
    # one request answered per submission; which ones depends on the order concurrent workers noted them
    assert run.labels["status"].value_counts().to_dict() == {"failed": 3, "ok": 2}
    assert set(run.labels.loc[run.labels["status"] == "failed", "failure_reason"]) == {"batch_expired"}


@pytest.mark.parametrize("policy", ["online", "failed"])
def test_requests_in_the_error_file_are_asked_online_or_fail_their_sentence(tmp_path, policy):
    def respond(user: str, attempt: int):
        if "Nothing here" in user and attempt == 0:  # the batch line fails; an online retry would succeed
            return ("status", 400)
        return capitalised(user, attempt)

    with FakeOpenAIServer(respond) as server:
        run = label(server, tmp_path, failed_requests=policy)
        online_requests = len(server.requests)
    by_id = run.labels.set_index("sentence_id")
    if policy == "online":
        assert online_requests == 1 and (run.labels["status"] == "ok").all()
        assert by_id.at[2, "api_calls"] == 1 and by_id.at[2, "batch_calls"] == 0  # bought online, at list price
    else:
        assert online_requests == 0
        assert by_id.at[2, "status"] == "failed" and by_id.at[2, "failure_reason"] == "batch_error:400:scripted"
    assert run.labels["batch_calls"].sum() == len(SENTENCES) - 1
    assert state(tmp_path)["failures"] == {next(iter(state(tmp_path)["failures"])): "batch_error:400:scripted"}


def test_a_rejected_batch_file_stops_the_run_with_the_apis_message(tmp_path):
    with FakeOpenAIServer(capitalised, lifecycles=lambda n: Lifecycle("failed")) as server:
        with pytest.raises(LLMServiceError) as stop:
            label(server, tmp_path)
    message = str(stop.value)
    assert "batch batch_1" in message and "was rejected: line 2: Invalid 'custom_id': duplicate value" in message
    assert "\n" not in message and SECRET not in message


def test_self_verification_goes_out_as_a_second_round_of_jobs(tmp_path):
    with FakeOpenAIServer(capitalised) as server:
        online = label(server, tmp_path, strategy="verified", cache="online.sqlite", mode="online")
        chats = len(server.requests)
        batched = label(server, tmp_path, strategy="verified")
        assert len(server.requests) == chats and server.calls["batches.create"] == 2
    pd.testing.assert_frame_equal(
        online.labels[["llm_tags", "status", "input_tokens"]], batched.labels[["llm_tags", "status", "input_tokens"]]
    )
    assert (batched.labels["batch_calls"] == online.labels["api_calls"]).all()


def test_vllm_run_batch_output_of_either_shape_goes_into_the_cache(tmp_path):
    with FakeOpenAIServer(capitalised) as server:  # the endpoint is part of the model's identity: one server
        online = label(server, tmp_path, cache="online.sqlite", mode="online")
        with pytest.raises(
            BatchPending,
            match=r"python -m vllm\.entrypoints\.openai\.run_batch -i \S+job-0001\.requests\.jsonl "
            r"-o \S+job-0001\.output\.jsonl --model fake-model",
        ):
            label(server, tmp_path, provider="files")
        assert server.calls["files.create"] == 0 and len(server.requests) == len(SENTENCES)
        [requests] = (tmp_path / "batches").glob("*/job-0001.requests.jsonl")
        lines = [json.loads(line) for line in requests.read_text().splitlines()]
        assert lines[0]["url"] == "/v1/chat/completions" and lines[0]["body"]["model"] == "fake-model"
        outputs = []
        for number, line in enumerate(lines):  # what run_batch writes: wrapped in status_code/body, or (older) not
            completion = chat_completion(line["body"], capitalised(line["body"]["messages"][-1]["content"], 0)[1])
            response = (
                {"status_code": 200, "request_id": f"r{number}", "body": completion} if number % 2 else completion
            )
            outputs.append(
                json.dumps(
                    {"id": f"vllm-{number}", "custom_id": line["custom_id"], "response": response, "error": None}
                )
            )
        requests.with_name("job-0001.output.jsonl").write_text("\n".join(outputs) + "\n")
        imported = label(server, tmp_path, provider="files")
        assert len(server.requests) == len(SENTENCES)  # the online run's, no more
    columns = ["llm_tags", "status", "input_tokens", "output_tokens"]
    pd.testing.assert_frame_equal(online.labels[columns], imported.labels[columns])
    assert imported.labels["batch_calls"].sum() == len(SENTENCES)


def test_a_malformed_result_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"custom_id": "a", "response": {"status_code": 500, "body": {}}, "error": null}\n\nnot json\n')
    results = read_results(path, {})
    assert next(results).error == "batch_error:500"
    with pytest.raises(ValueError, match=r"out\.jsonl:3: not a batch result line"):
        next(results)


def test_request_files_are_split_at_the_request_and_byte_limits():
    requests = [BatchRequest(f"k{i}", [{"role": "user", "content": "x" * 50}], {"max_tokens": 5}) for i in range(5)]
    by_count = [len(lines) for lines, _ in split_request_lines(requests, "m", 2, 10**6)]
    line_bytes = (
        len(
            json.dumps(
                {
                    "custom_id": "k0",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "m", "messages": requests[0].messages, "max_tokens": 5},
                }
            ).encode()
        )
        + 1
    )
    by_size = [len(lines) for lines, _ in split_request_lines(requests, "m", 100, 3 * line_bytes)]
    assert by_count == [2, 2, 1] and by_size == [3, 2]
    with pytest.raises(ValueError, match="max_bytes_per_file"):
        list(split_request_lines(requests, "m", 100, 10))


@pytest.mark.parametrize(
    "annotation, message",
    [
        ({"mode": "offline"}, r"llm_annotation\.mode: Input should be 'online' or 'batch'.*got 'offline'"),
        ({"mode": {"local": "batch"}}, r"llm_annotation.mode.local: batch needs an API model"),
        ({"mode": {"nobody": "batch"}}, r"llm_annotation.mode: unknown model 'nobody'"),
        (
            {"batch": {"provider": "carrier-pigeon"}},
            r"llm_annotation\.batch\.provider: Input should be 'openai' or 'files', got 'carrier-pigeon'",
        ),
        (
            {"batch": {"failed_requests": "retry"}},
            r"llm_annotation\.batch\.failed_requests: Input should be 'online' or 'failed', got 'retry'",
        ),
        ({"batch": {"max_requests": 3}}, r"llm_annotation\.batch\.max_requests: unknown parameter"),
    ],
)
def test_bad_batch_settings_name_the_parameter(annotation, message):
    models = {"local": {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct"}}
    with pytest.raises(ValueError, match=message):
        parse_llm_settings({"cache_path": "c", **annotation}, models, {})
