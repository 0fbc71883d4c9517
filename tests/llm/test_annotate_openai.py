"""The annotation runner against a local OpenAI-compatible server with scripted, misbehaving replies."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer

from llm_ner.llm.annotate import LabellingJob, annotate_replies
from llm_ner.llm.backends import LLMServiceError, OpenAIBackend, make_backend
from llm_ner.llm.cache import ResponseCache
from llm_ner.llm.costs import Price
from llm_ner.llm.prompts import PromptStrategy, VerificationPrompt
from llm_ner.llm.settings import ModelSettings, model_settings

SPANS = PromptStrategy(name="span_json", reply="spans", user="Entities as JSON.\nSentence: $sentence")
TOKENS = PromptStrategy(name="token_json", reply="tokens", user="Tag each token: $tokens")
GOOD = json.dumps({"PER": ["Anna Schmidt"], "ORG": [], "LOC": ["Berlin"], "MISC": []})

# sentence -> (script over attempts, expected status, expected tags)
SPAN_SCRIPT = {
    "Anna Schmidt flew to Berlin .": ([("reply", GOOD)], "ok", ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    "Fenced reply from Paris .": (
        [("reply", 'Here:\n```json\n{"LOC": ["Paris"]}\n```')],
        "ok",
        ["O", "O", "O", "B-LOC", "O"],
    ),
    "Prose around Rome today .": (
        [("reply", 'Sure! The entities are {"LOC": ["Rome"]} as asked.')],
        "ok",
        ["O", "O", "B-LOC", "O", "O"],
    ),
    "Malformed about Oslo .": ([("reply", "{'LOC': ['Oslo'],,")], "repaired", ["O", "O", "B-LOC", "O"]),
    "Nothing useful here .": ([("reply", "I am sorry, I cannot help with that.")], "failed", None),
    "Hallucinated Madrid story .": ([("reply", '{"LOC": ["Madrid", "Lisbon"]}')], "repaired", ["O", "B-LOC", "O", "O"]),
    "Empty reply sentence .": ([("reply", "")], "failed", None),
    "Rate limited in Vienna .": (
        [("status", 429), ("reply", '{"LOC": ["Vienna"]}')],
        "ok",
        ["O", "O", "O", "B-LOC", "O"],
    ),
    "Server error always .": ([("status", 500)], "failed", None),
    "Slow answer from Prague .": (
        [("sleep", 2.0, "{}"), ("reply", '{"LOC": ["Prague"]}')],
        "ok",
        ["O", "O", "O", "B-LOC", "O"],
    ),
    "Dropped link to Dublin .": ([("drop",), ("reply", '{"LOC": ["Dublin"]}')], "ok", ["O", "O", "O", "B-LOC", "O"]),
}


def scripted(scripts: dict[str, list]):
    def respond(user: str, attempt: int):
        for sentence, script in scripts.items():
            if sentence in user:
                return script[min(attempt, len(script) - 1)]
        raise AssertionError(f"unscripted request: {user!r}")

    return respond


def table(sentences) -> pd.DataFrame:
    rows = [(i, 0, s.split(), ["O"] * len(s.split())) for i, s in enumerate(sentences)]
    return pd.DataFrame(rows, columns=["sentence_id", "document_id", "tokens", "ner_tags"])


SECRET = "sk-secret-test-key"


def backend(server: FakeOpenAIServer | None, base_url: str | None = None, **options) -> OpenAIBackend:
    settings = {
        "timeout_s": 0.5,
        "max_retries": 2,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "max_concurrency": 4,
    }
    settings.update(options)
    return OpenAIBackend(
        ModelSettings(
            name="fake", backend="openai", model="fake-model", base_url=base_url or server.base_url, **settings
        ),
        api_key=SECRET,
    )


def test_every_scripted_misbehaviour_gets_its_status_and_nothing_is_lost(tmp_path):
    scripts = {s: v[0] for s, v in SPAN_SCRIPT.items()}
    with FakeOpenAIServer(scripted(scripts)) as server:
        client = backend(server)
        run = annotate_replies(
            LabellingJob(
                SPANS,
                client,
                ResponseCache(tmp_path / "c.sqlite"),
                [{"max_tokens": 64, "temperature": 0.0, "stop": ["\nSentence:"]}],
                price=Price(1.0, 2.0),
                show_progress=False,
            ),
            table(list(SPAN_SCRIPT)),
        )[0]
    labels = run.labels.set_index(run.labels["tokens"].map(" ".join))
    assert len(run.labels) == len(SPAN_SCRIPT) and run.labels["sentence_id"].tolist() == list(range(len(SPAN_SCRIPT)))
    for sentence, (_, status, tags) in SPAN_SCRIPT.items():
        assert labels.at[sentence, "status"] == status, (sentence, labels.at[sentence, "failure_reason"])
        assert (
            labels.at[sentence, "llm_tags"] is None if tags is None else list(labels.at[sentence, "llm_tags"]) == tags
        )
    assert labels.at["Nothing useful here .", "failure_reason"] == "no_json"
    assert labels.at["Empty reply sentence .", "failure_reason"] == "empty_reply"
    assert labels.at["Hallucinated Madrid story .", "failure_reason"] == "unaligned_entity"
    assert labels.at["Malformed about Oslo .", "failure_reason"] == "json_repaired"
    assert labels.at["Server error always .", "failure_reason"] == "api_error:InternalServerError"
    # retries: 429, timeout and dropped connection once each; the 500 until max_retries (2) ran out
    assert client.counters.retry_reasons == {"429": 1, "timeout": 1, "connection": 1, "500": 2}
    assert run.retries == 5
    assert server.attempts["Entities as JSON.\nSentence: Server error always ."] == 3
    # usage from the API is summed and priced; the key never leaves the Authorization header
    ok = run.labels[run.labels["status"] != "failed"]
    assert (ok["input_tokens"] > 0).all() and run.totals.input_tokens == run.labels["input_tokens"].sum()
    assert run.labels["label_cost_usd"].sum() == pytest.approx(
        (run.totals.input_tokens * 1.0 + run.totals.output_tokens * 2.0) / 1e6
    )
    assert run.labels["spend_usd"].sum() == pytest.approx(run.labels["label_cost_usd"].sum())  # all calls were fresh
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    assert all(r["body"]["stop"] == ["\nSentence:"] for r in server.requests)


def test_token_replies_with_wrong_length_and_invalid_tags_are_repaired(tmp_path):
    scripts = {
        "EU rejects German call": [("reply", json.dumps({"ner_tags": [3, 0, 7, 0]}))],
        "Peter Blackburn arrived": [("reply", json.dumps({"ner_tags": ["B-PER", "I-PER"]}))],
        "BRUSSELS 1996-08-22 today": [("reply", json.dumps({"ner_tags": ["B-LOC", "[CLS]", "I-MISC"]}))],
        "Only France and Britain": [
            ("reply", json.dumps({"tokens": ["Only", "France", "Britain"], "ner_tags": ["O", "B-LOC", "B-LOC"]}))
        ],
    }
    with FakeOpenAIServer(scripted({f"`{s.split()[0]}`": v for s, v in scripts.items()})) as server:
        run = annotate_replies(
            LabellingJob(
                TOKENS, backend(server), ResponseCache(tmp_path / "c.sqlite"), [{"max_tokens": 64}], show_progress=False
            ),
            table(list(scripts)),
        )[0]
    by_id = run.labels.set_index("sentence_id")
    assert by_id.at[0, "status"] == "ok" and list(by_id.at[0, "llm_tags"]) == ["B-ORG", "O", "B-MISC", "O"]
    assert by_id.at[1, "failure_reason"] == "length_mismatch" and list(by_id.at[1, "llm_tags"]) == [
        "B-PER",
        "I-PER",
        "O",
    ]
    assert by_id.at[2, "failure_reason"] == "bio_repaired;invalid_tag" and list(by_id.at[2, "llm_tags"]) == [
        "B-LOC",
        "O",
        "B-MISC",
    ]
    assert list(by_id.at[3, "llm_tags"]) == ["O", "B-LOC", "O", "B-LOC"]  # realigned through the reply's own tokens


def test_rerun_answers_from_the_cache_with_zero_calls(tmp_path):
    scripts = {s: v[0] for s, v in SPAN_SCRIPT.items() if v[1] != "failed"}
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer(scripted(scripts)) as server:
        first = annotate_replies(
            LabellingJob(
                SPANS, backend(server), cache, [{"max_tokens": 64}], price=Price(1.0, 2.0), show_progress=False
            ),
            table(list(scripts)),
        )[0]
        sent = len(server.requests)
        second = annotate_replies(
            LabellingJob(
                SPANS, backend(server), cache, [{"max_tokens": 64}], price=Price(1.0, 2.0), show_progress=False
            ),
            table(list(scripts)),
        )[0]
        assert len(server.requests) == sent  # not one more request
        # another generation parameter is another request
        annotate_replies(
            LabellingJob(SPANS, backend(server), cache, [{"max_tokens": 65}], show_progress=False),
            table(list(scripts))[:1],
        )[0]
        assert len(server.requests) == sent + 1
        # the same model name behind another endpoint is another model: nothing is shared
        with FakeOpenAIServer(scripted(scripts)) as other:
            annotate_replies(
                LabellingJob(SPANS, backend(other), cache, [{"max_tokens": 64}], show_progress=False),
                table(list(scripts))[:2],
            )[0]
            assert len(other.requests) == 2
        # ...while another spelling of the same endpoint is the same one
        shouted = server.base_url.replace("http://127.0.0.1", "HTTP://127.0.0.1") + "/"
        annotate_replies(
            LabellingJob(SPANS, backend(server, base_url=shouted), cache, [{"max_tokens": 64}], show_progress=False),
            table(list(scripts))[:2],
        )[0]
        assert len(server.requests) == sent + 1
    assert second.totals.api_calls == 0 and second.totals.cache_hits == len(scripts)
    pd.testing.assert_series_equal(first.labels["llm_tags"], second.labels["llm_tags"])
    # money: the labels cost the same to produce, but this rerun paid nothing
    assert second.labels["spend_usd"].sum() == 0 and first.labels["spend_usd"].sum() > 0
    assert second.labels["label_cost_usd"].sum() == pytest.approx(first.labels["label_cost_usd"].sum())
    assert second.labels["seconds"].sum() == pytest.approx(
        first.labels["seconds"].sum()
    )  # latency kept from the real calls
    raw = (tmp_path / "c.sqlite").read_bytes()
    assert b"sk-secret-test-key" not in raw and b"127.0.0.1" not in raw


def test_self_verification_drops_the_entities_the_model_rejects(tmp_path):
    def respond(user: str, attempt: int):
        if user.startswith("Check"):
            return ("reply", '["yes", "no"]')  # keep Anna Schmidt, reject Berlin
        return ("reply", GOOD)

    verified = PromptStrategy(name="verified", reply="spans", user="Sentence: $sentence", self_verify=True)
    prompt = VerificationPrompt(user="Check $sentence\n$candidates\nAnswer $n_candidates")
    with FakeOpenAIServer(respond) as server:
        run = annotate_replies(
            LabellingJob(
                verified,
                backend(server),
                ResponseCache(tmp_path / "c.sqlite"),
                [{}],
                verification=prompt,
                show_progress=False,
            ),
            table(["Anna Schmidt flew to Berlin ."]),
        )[0]
        assert '1. "Anna Schmidt" as PER\n2. "Berlin" as LOC' in server.requests[-1]["user"]
    row = run.labels.iloc[0]
    assert list(row["llm_tags"]) == ["B-PER", "I-PER", "O", "O", "O", "O"]
    assert row["status"] == "repaired" and row["failure_reason"] == "verify_rejected" and row["api_calls"] == 2


def test_concurrency_and_rate_limit(tmp_path):
    import time

    sentences = [f"Sentence number {i} ." for i in range(6)]
    with FakeOpenAIServer(lambda user, attempt: ("reply", "{}"), delay_s=0.3) as server:
        started = time.perf_counter()
        annotate_replies(
            LabellingJob(
                SPANS,
                backend(server, max_concurrency=6),
                ResponseCache(tmp_path / "a.sqlite"),
                [{}],
                show_progress=False,
            ),
            table(sentences),
        )[0]
        parallel = time.perf_counter() - started
        started = time.perf_counter()
        annotate_replies(
            LabellingJob(
                SPANS,
                backend(server, max_concurrency=6, requests_per_minute=600),
                ResponseCache(tmp_path / "b.sqlite"),
                [{}],
                show_progress=False,
            ),
            table(sentences),
        )[0]
        limited = time.perf_counter() - started
    assert parallel < 1.2  # 6 x 0.3 s would take 1.8 s one after another
    assert limited >= 0.5  # 600/min spaces 6 request starts 0.1 s apart


def test_bad_settings_name_the_parameter():
    with pytest.raises(
        ValueError, match=r"llm_models\.m\.backend: Input should be 'local' or 'openai', got 'telepathy'"
    ):
        model_settings("m", {"backend": "telepathy", "model": "x"})
    with pytest.raises(ValueError, match=r"llm_models\.m\.temperature: unknown parameter"):
        model_settings("m", {"backend": "openai", "model": "x", "base_url": "http://h/v1", "temperature": 1})
    with pytest.raises(ValueError, match=r"n_ctx.*do not apply to backend 'openai'"):
        model_settings("m", {"backend": "openai", "model": "x", "n_ctx": 100})
    with pytest.raises(ValueError, match="OPENAI_TEST_KEY_THAT_IS_UNSET"):
        make_backend(
            model_settings(
                "m", {"backend": "openai", "model": "gpt-4o-mini", "api_key_env": "OPENAI_TEST_KEY_THAT_IS_UNSET"}
            )
        )


@pytest.mark.parametrize(
    "status, code, words",
    [
        (401, None, "API key was rejected"),
        (403, None, "access denied"),
        (404, None, "not found"),
        (429, "insufficient_quota", "quota exhausted"),
    ],
)
def test_errors_no_retry_can_fix_stop_at_once_naming_model_and_endpoint(tmp_path, status, code, words):
    with FakeOpenAIServer(lambda user, attempt: ("status", status, code)) as server:
        with pytest.raises(LLMServiceError) as raised:
            annotate_replies(
                LabellingJob(
                    SPANS,
                    backend(server, max_concurrency=1),
                    ResponseCache(tmp_path / "c.sqlite"),
                    [{}],
                    show_progress=False,
                ),
                table(["One .", "Two .", "Three ."]),
            )[0]
        assert len(server.requests) == 1  # no retries, no second sentence
    message = str(raised.value)
    assert words in message and "'fake'" in message and server.base_url in message and "\n" not in message
    assert SECRET not in message and raised.value.__cause__ is None  # one line, no SDK traceback chained


def test_a_service_down_stops_after_n_failed_sentences_and_the_rerun_pays_only_for_the_rest(tmp_path):
    sentences = [f"Sentence number {i} ." for i in range(8)]
    down = {"on": False}

    def respond(user: str, attempt: int):
        return ("status", 429) if down["on"] else ("reply", "{}")

    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer(respond) as server:
        first_two = annotate_replies(
            LabellingJob(SPANS, backend(server, max_concurrency=1), cache, [{}], show_progress=False),
            table(sentences[:2]),
        )[0]
        assert first_two.totals.api_calls == 2
        down["on"] = True  # rate-limited for good (what an exhausted account can look like)
        with pytest.raises(LLMServiceError, match=r"3 sentences in a row failed after all retries .*RateLimitError"):
            annotate_replies(
                LabellingJob(
                    SPANS,
                    backend(server, max_concurrency=1, max_consecutive_failures=3),
                    cache,
                    [{}],
                    show_progress=False,
                ),
                table(sentences),
            )[0]
        assert len(server.requests) == 2 + 3 * 3  # 3 sentences x (1 + 2 retries), then stop
        down["on"] = False
        before = len(server.requests)
        rerun = annotate_replies(
            LabellingJob(SPANS, backend(server, max_concurrency=1), cache, [{}], show_progress=False), table(sentences)
        )[0]
    assert rerun.totals.cache_hits == 2 and rerun.totals.api_calls == 6 and len(server.requests) - before == 6


def test_a_dead_host_stops_the_run(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = backend(
        None, base_url=f"http://127.0.0.1:{port}/v1", max_concurrency=1, max_retries=1, max_consecutive_failures=2
    )
    with pytest.raises(
        LLMServiceError, match=rf"at http://127.0.0.1:{port}/v1: 2 sentences in a row .*APIConnectionError"
    ):
        annotate_replies(
            LabellingJob(SPANS, dead, ResponseCache(tmp_path / "c.sqlite"), [{}], show_progress=False),
            table(["One .", "Two .", "Three ."]),
        )[0]
    assert dead.counters.requests == 4


def test_retry_after_is_honoured(tmp_path):
    import time

    script = [("status", 429, None, {"Retry-After": "1"}), ("reply", "{}")]
    with FakeOpenAIServer(lambda user, attempt: script[min(attempt, 1)]) as server:
        started = time.perf_counter()
        run = annotate_replies(
            LabellingJob(SPANS, backend(server), ResponseCache(tmp_path / "c.sqlite"), [{}], show_progress=False),
            table(["One ."]),
        )[0]
        waited = time.perf_counter() - started
    assert run.labels.at[0, "status"] == "ok" and waited >= 0.95  # not the 0.01 s backoff


def test_a_reply_the_parser_chokes_on_gets_its_own_reason(tmp_path, monkeypatch):
    import llm_ner.llm.annotate as annotate

    def broken(*args):
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(annotate.REPLY_PARSERS, "spans", broken)
    with FakeOpenAIServer(lambda user, attempt: ("reply", "{}")) as server:
        run = annotate_replies(
            LabellingJob(SPANS, backend(server), ResponseCache(tmp_path / "c.sqlite"), [{}], show_progress=False),
            table(["One ."]),
        )[0]
    assert (run.labels.at[0, "status"], run.labels.at[0, "failure_reason"]) == (
        "failed",
        "parse_error:ZeroDivisionError",
    )


def test_logprob_confidence_scores_entities_and_the_sentence(tmp_path):
    reply = '{"PER": ["Anna Schmidt"], "LOC": ["Berlin"]}'
    # the model hesitated on "Berlin" (p = 0.25) and nowhere else
    tokens = [
        ('{"PER": ["', 0.0),
        ("Anna", 0.0),
        (" Schmidt", 0.0),
        ('"], "LOC": ["', 0.0),
        ("Ber", math.log(0.5)),
        ("lin", math.log(0.5)),
        ('"]}', 0.0),
    ]
    with FakeOpenAIServer(lambda user, attempt: ("reply", reply, tokens)) as server:
        run = annotate_replies(
            LabellingJob(
                SPANS, backend(server), ResponseCache(tmp_path / "c.sqlite"), [{"logprobs": True}], show_progress=False
            ),
            table(["Anna Schmidt flew to Berlin ."]),
        )[0]
        assert server.requests[0]["body"]["logprobs"] is True
    row = run.labels.iloc[0]
    assert row["sentence_confidence"] == pytest.approx(0.5)  # the least sure token of the answer
    confidence = {(e["start"], e["end"], e["type"]): e["confidence"] for e in row["entity_confidence"]}
    assert confidence == {(0, 2, "PER"): pytest.approx(1.0), (4, 5, "LOC"): pytest.approx(0.25)}
    cached = annotate_replies(
        LabellingJob(
            SPANS, backend(server), ResponseCache(tmp_path / "c.sqlite"), [{"logprobs": True}], show_progress=False
        ),
        table(["Anna Schmidt flew to Berlin ."]),
    )[0]
    assert cached.totals.cache_hits == 1 and cached.labels.at[0, "sentence_confidence"] == pytest.approx(0.5)


def voting_study(server: FakeOpenAIServer, tmp_path, confidence: dict):
    from llm_ner.llm.settings import parse_llm_settings
    from llm_ner.llm.study import AnnotationStudy

    strategies = {
        "spans": {"reply": "spans", "user": "Entities as JSON.\nSentence: $sentence"},
        "other": {"reply": "spans", "user": "Other prompt.\nSentence: $sentence"},
    }
    settings = parse_llm_settings(
        {"cache_path": str(tmp_path / "c.sqlite"), "show_progress": False, "confidence": confidence},
        {"fake": {"backend": "openai", "model": "fake-model", "base_url": server.base_url, "max_retries": 0}},
        {"strategies": strategies},
        {"fake-model": {"input_per_million": 1.0, "output_per_million": 1.0}},
    )
    return AnnotationStudy(dataclasses.replace(settings, credentials={"api_key": SECRET}))


def test_self_consistency_votes_over_sampled_replies(tmp_path):
    replies = [
        GOOD,
        GOOD,
        json.dumps({"PER": ["Anna Schmidt"], "ORG": ["Berlin"]}),
        json.dumps({"PER": ["Anna Schmidt"]}),
        "no",
    ]
    with FakeOpenAIServer(lambda user, attempt: ("reply", replies[attempt])) as server:
        study = voting_study(server, tmp_path, {"method": "self_consistency", "samples": 5, "temperature": 0.7})
        run = study.annotate("spans", "fake", table(["Anna Schmidt flew to Berlin ."]), None)
        bodies = [r["body"] for r in server.requests]
        study.close()
    assert [(b["temperature"], b["seed"]) for b in bodies] == [(0.0, 0), (0.7, 1), (0.7, 2), (0.7, 3), (0.7, 4)]
    row = run.labels.iloc[0]
    assert (
        list(row["llm_tags"]) == ["B-PER", "I-PER", "O", "O", "B-LOC", "O"] and row["failure_reason"] == "failed_votes"
    )
    assert row["sentence_confidence"] == pytest.approx(0.6 * 2 / 3)  # Berlin: 3 of 5 replies, 2 of them LOC
    assert row["api_calls"] == 5 and row["label_cost_usd"] > 0 and row["spend_usd"] == row["label_cost_usd"]


def test_strategy_agreement_asks_each_listed_strategy_once(tmp_path):
    def respond(user: str, attempt: int):
        return ("reply", GOOD if user.startswith("Entities") else json.dumps({"PER": ["Anna Schmidt"]}))

    with FakeOpenAIServer(respond) as server:
        study = voting_study(server, tmp_path, {"method": "strategy_agreement", "strategies": ["other"]})
        run = study.annotate("spans", "fake", table(["Anna Schmidt flew to Berlin ."]), None)
        study.close()
        assert sorted(r["user"].split("\n")[0] for r in server.requests) == ["Entities as JSON.", "Other prompt."]
    row = run.labels.iloc[0]
    # a tie (1 of 2) goes to the labeller's own reply, at half confidence
    assert list(row["llm_tags"]) == ["B-PER", "I-PER", "O", "O", "B-LOC", "O"] and row["sentence_confidence"] == 0.5
    assert row["strategy"] == "spans"


def test_self_consistency_asks_only_for_missing_replies_and_stores_each_under_its_own_key(tmp_path):
    with FakeOpenAIServer(lambda user, attempt: ("reply", GOOD)) as server:
        study = voting_study(server, tmp_path, {"method": "self_consistency", "samples": 3, "temperature": 0.7})
        first = table(["Anna Schmidt flew to Berlin ."])
        both = table(["Anna Schmidt flew to Berlin .", "Berlin is big ."])
        study.annotate("spans", "fake", first, None)
        assert len(server.requests) == 3
        run = study.annotate("spans", "fake", both, None)
        assert len(server.requests) == 6  # the second sentence's three replies only
        assert list(run.labels["api_calls"]) == [0, 3] and list(run.labels["cache_hits"]) == [3, 0]
        # each reply sits under the key a run of that generation alone would use
        for _, request in study._generations("spans"):
            alone = annotate_replies(
                LabellingJob(
                    study.settings.strategies["spans"],
                    study.backend("fake"),
                    study.cache,
                    [request],
                    show_progress=False,
                ),
                both,
            )[0]
            assert alone.totals.cache_hits == 2 and alone.totals.api_calls == 0
        study.close()
    assert len(server.requests) == 6
