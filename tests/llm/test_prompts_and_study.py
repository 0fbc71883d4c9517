"""Prompt strategies from the project's own configuration, retrieval, costs, quality and choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from llm_ner.llm.annotate import choose_demonstrations
from llm_ner.llm.backends import RequestRateLimiter
from llm_ner.llm.costs import Price
from llm_ner.llm.prompts import strategy_from_config
from llm_ner.llm.quality import apply_failed_policy, choose_best, markup_quality_row
from llm_ner.llm.retrieval import nearest_neighbours
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.llm.study import AnnotationStudy
from llm_ner.settings import project_parameters

CONF = Path(__file__).resolve().parents[2] / "conf"
TOKENS = "Germany beat France 2-1 in Paris .".split()


@pytest.fixture(scope="module")
def parameters():
    return project_parameters("base", str(CONF))


def settings_for(parameters, cache_path, **changes):
    params = {**parameters["llm_annotation"], "cache_path": str(cache_path), **changes}
    return parse_llm_settings(
        params, parameters["llm_models"], parameters["llm_prompts"], parameters["cost_model"]["llm_prices"]
    )


@pytest.fixture(scope="module")
def study(parameters, tmp_path_factory):
    return AnnotationStudy(settings_for(parameters, tmp_path_factory.mktemp("c") / "cache.sqlite"))


def test_configured_strategies_render(study, parameters):
    strategies = study.settings.strategies
    assert set(parameters["llm_annotation"]["evaluate"]["strategies"]) <= set(strategies)
    seed = strategies["token_json"].messages(TOKENS)
    assert "Tokens: '`Germany`, `beat`, `France`" in seed[-1]["content"] and "'B-PER': 1" in seed[-1]["content"]
    few = strategies["few_shot"].messages(TOKENS, strategies["few_shot"].examples)[-1]["content"]
    assert few.count("Sentence: '") == 4 and '"PER": ["Antonio Kandir"]' in few and few.rstrip().endswith("Result:")
    cot = strategies["cot_few_shot"]
    assert "Reasoning: The sentence reports a baseball game" in cot.messages(TOKENS, cot.examples)[-1]["content"]
    assert cot.result_marker == "Result:" and study.settings.annotation.generation.stop == ("\nSentence:",)
    assert strategies["few_shot_verified"].self_verify and study.settings.verification is not None


def test_bad_configuration_names_the_parameter(parameters, tmp_path):
    with pytest.raises(ValueError, match="`reply` must be one of"):
        strategy_from_config("s", {"reply": "xml", "user": "$sentence"})
    with pytest.raises(ValueError, match="unknown field.*templte"):
        strategy_from_config("s", {"reply": "spans", "user": "$sentence", "templte": 1})
    with pytest.raises(ValueError, match="demonstrations: fixed"):
        strategy_from_config("s", {"reply": "spans", "user": "$sentence", "demonstrations": "fixed"})
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        settings_for(parameters, tmp_path / "c", evaluate={"strategies": ["nope"], "models": ["qwen-0.5b"]})
    with pytest.raises(ValueError, match="unknown model 'gpt-9'"):
        settings_for(parameters, tmp_path / "c", evaluate={"strategies": ["span_json"], "models": ["gpt-9"]})
    with pytest.raises(ValueError, match=r"llm_annotation\.labeller: must be 'best' or \{strategy"):
        settings_for(parameters, tmp_path / "c", labeller="worst")


def test_knn_demonstrations_are_the_most_similar_gold_sentences(study):
    pool = pd.DataFrame(
        {
            "tokens": [
                ["Stocks", "fell", "in", "Tokyo", "."],
                ["Germany", "beat", "Italy", "3-0", "in", "Rome", "."],
                ["Rain", "is", "expected", "."],
                TOKENS,
            ],
            "ner_tags": [
                ["O", "O", "O", "B-LOC", "O"],
                ["B-LOC", "O", "B-LOC", "O", "O", "B-LOC", "O"],
                ["O"] * 4,
                ["O"] * 7,
            ],
        }
    )
    knn = dataclasses.replace(study.settings.strategies["knn_few_shot"], k=4)  # more than the pool offers
    for similarity in ("lexical", "embedding"):
        [demos] = choose_demonstrations(knn, [TOKENS], pool, similarity)
        assert len(demos) == 3  # k=4 but the query itself is never its own demonstration
        assert demos[-1].sentence == "Germany beat Italy 3-0 in Rome ."  # most similar sits next to the input
        assert demos[-1].entities == {"LOC": ["Germany", "Italy", "Rome"]}
    assert nearest_neighbours([TOKENS], [], 2) == [[]]


def test_dry_run_estimate_counts_only_uncached_calls(study, parameters, tmp_path):
    sample = pd.DataFrame({"tokens": [TOKENS, ["Hello", "."]]})
    estimate = study.estimate("span_json", "gpt-4o-mini", sample, None, "quality")
    assert estimate["calls_to_make"] == 2 and estimate["cached_calls"] == 0
    expected = (estimate["estimated_input_tokens"] * 0.15 + 2 * 40 * 0.60) / 1e6
    assert estimate["estimated_cost_usd"] == pytest.approx(expected)
    verified = study.estimate("few_shot_verified", "qwen-0.5b", sample, None, "quality")
    assert verified["calls_to_make"] == 4 and verified["estimated_cost_usd"] == 0.0  # local model: free
    voting = AnnotationStudy(
        settings_for(parameters, tmp_path / "c.sqlite", confidence={"method": "self_consistency", "samples": 5})
    )
    assert voting.estimate("span_json", "gpt-4o-mini", sample, None, "quality")["calls_to_make"] == 10  # 5 replies each


def test_prices_and_rate_limiter(study, parameters, tmp_path):
    assert Price(2.0, 8.0).cost(1000, 500) == pytest.approx(0.006)
    assert study.settings.price("gpt-4o-mini") == Price(0.15, 0.60) and study.settings.price("qwen-0.5b") == Price()
    with pytest.raises(ValueError, match=r"llm_prices\.m\.input: unknown parameter"):
        parse_llm_settings({"cache_path": "c"}, {}, {}, {"m": {"input": 1}})
    with pytest.raises(ValueError, match="requests_per_minute"):
        RequestRateLimiter(0)


def labels(strategy, tags, status="ok", seconds=1.0, cost=0.0):
    return pd.DataFrame(
        {
            "tokens": [["Anna", "in", "Rome"]] * len(tags),
            "gold_tags": [["B-PER", "O", "B-LOC"]] * len(tags),
            "llm_tags": tags,
            "status": status,
            "strategy": strategy,
            "model": "m",
            "seconds": seconds,
            "input_tokens": 10,
            "output_tokens": 5,
            "label_cost_usd": cost,
            "spend_usd": cost,
            "api_calls": 1,
            "batch_calls": 0,
            "cache_hits": 0,
        }
    )


def test_quality_row_counts_failures_as_all_outside_and_choice():
    perfect = markup_quality_row(labels("a", [["B-PER", "O", "B-LOC"]]))
    half = markup_quality_row(labels("b", [["B-PER", "O", "B-LOC"], None], status=["ok", "failed"]))
    assert perfect["f1"] == 1.0 and perfect["parse_failure_rate"] == 0.0
    assert half["recall"] == 0.5 and half["parse_failure_rate"] == 0.5 and half["PER_f1"] == pytest.approx(2 / 3)
    quality = pd.DataFrame([half, perfect, {**perfect, "strategy": "c", "label_cost_usd": 1.0}])
    assert choose_best(quality)["strategy"] == "a"  # best F1, cheaper of the tie
    assert choose_best(quality, {"strategy": "b", "model": "m"})["chosen_by"] == "configuration"
    with pytest.raises(ValueError, match="labeller must be"):
        choose_best(quality, "worst")
    failed = labels("b", [["B-PER", "O", "B-LOC"], None], status=["ok", "failed"])
    assert len(apply_failed_policy(failed, "drop")) == 1
    assert list(apply_failed_policy(failed, "all_o")["llm_tags"][1]) == ["O", "O", "O"]
