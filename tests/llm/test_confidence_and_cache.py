"""LLM confidence by vote, quality of a confidence score, the cache's identity and format, typed settings."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pandas as pd
import pytest

from llm_ner.llm.backends import Completion, backend_identity
from llm_ner.llm.cache import CacheFormatError, ResponseCache, request_key
from llm_ner.llm.confidence import vote
from llm_ner.llm.parsing import SentenceLabels
from llm_ner.llm.quality import confidence_auroc, confidence_thresholds
from llm_ner.llm.settings import AnnotationSettings, model_settings, parse_llm_settings
from llm_ner.typed import parse as parse_settings

TOKENS = "Anna Schmidt flew to Berlin .".split()


def labels(tags):
    return SentenceLabels(tags, "ok") if tags is not None else SentenceLabels(None, "failed", Counter({"no_json": 1}))


PER_LOC = ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]
PER_ORG = ["B-PER", "I-PER", "O", "O", "B-ORG", "O"]
PER = ["B-PER", "I-PER", "O", "O", "O", "O"]
ANNA = ["B-PER", "O", "O", "O", "O", "O"]


def test_vote_keeps_the_majority_span_and_type_and_scores_agreement():
    voted, scored = vote([labels(PER_LOC), labels(PER_LOC), labels(PER_ORG), labels(PER), labels(None)], TOKENS)
    assert voted.tags == PER_LOC and voted.reason_text == "failed_votes"
    confidence = {(e["start"], e["end"], e["type"]): e["confidence"] for e in scored.entities}
    # "Anna Schmidt": 4 of 5 replies, all PER; "Berlin": 3 of 5 as a span, 2 of those 3 say LOC
    assert confidence == {(0, 2, "PER"): pytest.approx(0.8), (4, 5, "LOC"): pytest.approx(0.6 * 2 / 3)}
    assert scored.sentence == pytest.approx(0.4)


def test_vote_unanimous_ties_and_failures():
    _, unanimous = vote([labels(PER)] * 3, TOKENS)
    assert unanimous.sentence == 1.0 and unanimous.entities[0]["confidence"] == 1.0
    tie_first, tied = vote([labels(PER), labels(ANNA)], TOKENS)  # a tie goes to the first reply
    assert tie_first.tags == PER and tied.sentence == pytest.approx(0.5)
    rejected, scored = vote([labels(["O"] * 6), labels(["O"] * 6), labels(PER)], TOKENS)
    assert rejected.tags == ["O"] * 6 and scored.sentence == pytest.approx(2 / 3)  # 1 - share of the voted-out span
    failed, nothing = vote([labels(None), labels(None)], TOKENS)
    assert failed.status == "failed" and nothing.sentence == 0.0


def test_confidence_auroc_and_kept_share_f1():
    gold = [PER_LOC] * 4
    table = pd.DataFrame(
        {
            "tokens": [TOKENS] * 4,
            "gold_tags": gold,
            "llm_tags": [PER_LOC, PER_LOC, PER_ORG, PER],
            "sentence_confidence": [0.9, 0.8, 0.3, 0.5],
            "strategy": "s",
            "model": "m",
        }
    )
    assert confidence_auroc(table) == 1.0  # both right sentences score above both wrong ones
    assert confidence_auroc(table.assign(sentence_confidence=[0.1, 0.2, 0.9, 0.8])) == 0.0
    assert pd.isna(confidence_auroc(table.assign(sentence_confidence=float("nan"))))
    kept = confidence_thresholds(table, kept_shares=(1.0, 0.5)).set_index("kept_share")
    assert kept.at[0.5, "f1"] == 1.0 and kept.at[0.5, "threshold"] == 0.8 and kept.at[1.0, "f1"] < 1.0


def test_cache_identity_covers_endpoint_model_file_and_context():
    messages, generation = [{"role": "user", "content": "x"}], {"max_tokens": 8}
    key = lambda identity, namespace="": request_key(identity, messages, generation, namespace)  # noqa: E731
    a = backend_identity(
        model_settings("a", {"backend": "openai", "model": "llama3", "base_url": "http://host-a:11434/v1"})
    )
    b = backend_identity(
        model_settings("b", {"backend": "openai", "model": "llama3", "base_url": "http://host-b:11434/v1"})
    )
    a2 = backend_identity(
        model_settings("c", {"backend": "openai", "model": "llama3", "base_url": "HTTP://Host-A:11434/v1/"})
    )
    assert key(a) != key(b) and key(a) == key(a2) and key(a) != key(a, "study-2")
    local = {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct"}
    small, large = (backend_identity(model_settings("q", {**local, "n_ctx": n})) for n in (2048, 4096))
    assert key(small) != key(large) and len(small["sha256"]) == 64


def test_old_cache_files_are_rejected_with_a_clear_message(tmp_path):
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as connection:  # the version-1 layout: no meta table
        connection.execute(
            "CREATE TABLE responses (key TEXT PRIMARY KEY, backend TEXT, model TEXT, request TEXT, text TEXT, "
            "input_tokens INTEGER, output_tokens INTEGER, seconds REAL, created REAL)"
        )
    with pytest.raises(CacheFormatError, match="older version.*llm_annotation.cache_path"):
        ResponseCache(old)
    cache = ResponseCache(tmp_path / "new.sqlite")
    cache.put("k", {"backend": "openai", "model": "m"}, [], {}, Completion("hi", 3, 1, (("hi", -0.5),)), 0.1)
    cache.close()
    again = ResponseCache(tmp_path / "new.sqlite")  # a current file opens again
    assert again.get("k").completion == Completion("hi", 3, 1, (("hi", -0.5),))


def test_settings_errors_name_the_parameter():
    def parse(**annotation):
        return parse_llm_settings(
            {"cache_path": "c.sqlite", **annotation},
            {"m": {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct"}},
            {"strategies": {"s": {"reply": "spans", "user": "$sentence"}}},
            {},
        )

    assert parse(evaluate={"strategies": ["s"], "models": ["m"]}).evaluated_pairs() == [("s", "m")]
    with pytest.raises(
        ValueError,
        match=r"llm_annotation\.confidence\.method: Input should be 'none', 'logprobs', 'self_consistency' "
        r"or 'strategy_agreement', got 'vibes'",
    ):
        parse(confidence={"method": "vibes"})
    with pytest.raises(ValueError, match=r"llm_annotation\.generation\.max_token: unknown parameter"):
        parse(generation={"max_token": 5})
    with pytest.raises(
        ValueError, match=r"llm_annotation\.failed_sentences: Input should be 'drop' or 'all_o', got 'keep'"
    ):
        parse(failed_sentences="keep")
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        parse(evaluate={"strategies": ["nope"], "models": ["m"]})
    with pytest.raises(ValueError, match=r"llm_annotation: source 'import' needs import_path"):
        parse(source="import")
    with pytest.raises(
        ValueError,
        match=r"llm_models\.x\.model: Input should be one of \['qwen2\.5-coder-0\.5b-instruct'.* "
        r"for the local backend, got 'gpt-9'",
    ):
        model_settings("x", {"backend": "local", "model": "gpt-9"})
    with pytest.raises(
        ValueError, match=r"llm_annotation\.generation\.max_tokens: Input should be greater than 0, got 0"
    ):
        parse(generation={"max_tokens": 0})
    with pytest.raises(ValueError, match=r"llm_annotation\.batch: poll_max_interval_s must be >= poll_interval_s"):
        parse(batch={"poll_interval_s": 60, "poll_max_interval_s": 30})
    with pytest.raises(ValueError, match=r"llm_annotation\.confidence: strategies must list at least one strategy"):
        parse(confidence={"method": "strategy_agreement"})


def test_annotation_settings_parsed_before_pass_through():
    annotation = parse_settings(
        AnnotationSettings,
        {"cache_path": "c.sqlite", "mode": {"m": "online"}, "evaluate": {"strategies": ["s"], "models": ["m"]}},
        "llm_annotation",
    )
    assert annotation.evaluate.strategies == ("s",) and annotation.generation.stop == ("\nSentence:",)
    settings = parse_llm_settings(
        annotation,
        {"m": {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct"}},
        {"strategies": {"s": {"reply": "spans", "user": "$sentence"}}},
        {},
    )
    assert settings.annotation is annotation and settings.evaluated_pairs() == [("s", "m")]
