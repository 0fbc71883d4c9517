"""Topic labels (seed S2): reading replies, and a labelling run against a local OpenAI-compatible server."""

import pandas as pd
import pytest

from llm_ner.llm.backends import OpenAIBackend
from llm_ner.llm.cache import ResponseCache
from llm_ner.llm.costs import Price
from llm_ner.llm.settings import model_settings
from llm_ner.llm.topics import TOPICS, agreement, distribution, label_topics, read_topic, selected_prompt, topic_prompt


@pytest.mark.parametrize(
    "reply, topic, status",
    [
        ("2", 2, "ok"),
        ('"1"', 1, "ok"),
        ("2: Business", 2, "ok"),
        ("3 - Technology", 3, "ok"),
        ("0 (World)", 0, "ok"),
        ('{"topic": 4}', 4, "ok"),
        ("`1`", 1, "ok"),
        ("Business", 2, "repaired"),
        ("sport.", 1, "repaired"),
        ('{"label": "World"}', 0, "repaired"),
        ("The most relevant category is 1 because it reports a match.", 1, "repaired"),
        ("This sentence is about Sport.", 1, "repaired"),
        ("7", -1, "failed"),
        ("I cannot tell.", -1, "failed"),
        ("Either 0 or 2.", -1, "failed"),
        ("", -1, "failed"),
    ],
)
def test_replies_are_read_forgivingly_and_every_one_gets_a_status(reply, topic, status):
    reading = read_topic(reply, TOPICS)
    assert (reading.topic, reading.status) == (topic, status)


@pytest.mark.parametrize(
    "reply, topic, status",
    [
        ("Sport", 1, "ok"),
        ("Sports", 1, "repaired"),
        ("business.", 2, "ok"),
        ("2", 2, "ok"),
        ("Weather", -1, "failed"),
    ],
)
def test_a_prompt_that_asks_for_names_reads_a_bare_name_as_ok(reply, topic, status):
    reading = read_topic(reply, TOPICS, asked_for_names=True)
    assert (reading.topic, reading.status) == (topic, status)


def test_the_prompt_is_chosen_by_name():
    topics = {"prompt": "names", "prompts": {"names": {"answer": "name", "user": "Topic of $sentence?"}}}
    assert selected_prompt(topics).answer == "name"
    with pytest.raises(
        ValueError, match=r"llm_topics.prompt must name one of llm_topics.prompts \['names'\], got 'nope'"
    ):
        selected_prompt({**topics, "prompt": "nope"})
    with pytest.raises(ValueError, match=r"llm_topics.prompts.names.answer must be one of \('integer', 'name'\)"):
        selected_prompt({**topics, "prompts": {"names": {"answer": "word", "user": "$sentence"}}})


def test_the_prompt_needs_the_sentence_and_distinct_classes():
    prompt = topic_prompt({"user": "Classify: $sentence"})
    assert prompt.messages(["EU", "rejects"]) == [{"role": "user", "content": "Classify: EU rejects"}]
    with pytest.raises(ValueError, match=r"llm_topics.prompt.user must contain \$sentence"):
        topic_prompt({"user": "Classify"})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['temperature'\]"):
        topic_prompt({"user": "$sentence", "temperature": 0})


def test_a_labelling_run_records_topics_statuses_and_money(tmp_path):
    from fake_openai_server import FakeOpenAIServer

    replies = {
        "Slask Wroclaw 3 Odra Wodzislaw 1": "1",
        "Lamonts plans to issue shares .": "Business",
        "Nothing to see": "maybe 0, maybe 4",
    }

    def responder(user, attempt):
        return ("reply", replies[user.split("Input: ")[-1]])

    sentences = pd.DataFrame({"sentence_id": [10, 11, 12], "tokens": [s.split() for s in replies]})
    prompt = topic_prompt({"user": "Classify the topic.\nInput: $sentence"})
    with FakeOpenAIServer(responder) as server:
        settings = model_settings(
            "fake", {"backend": "openai", "model": "fake-llm", "base_url": server.base_url, "max_retries": 0}
        )
        backend = OpenAIBackend(settings, api_key="test-key")
        cache = ResponseCache(tmp_path / "cache.sqlite")
        run = label_topics(
            sentences,
            prompt,
            backend,
            cache,
            {"max_tokens": 8, "temperature": 0.2},
            price=Price(1.0, 2.0),
            show_progress=False,
        )
        again = label_topics(
            sentences,
            prompt,
            backend,
            cache,
            {"max_tokens": 8, "temperature": 0.2},
            price=Price(1.0, 2.0),
            show_progress=False,
        )
    labels = run.labels.set_index("sentence_id")
    assert labels["topic"].tolist() == [1, 2, -1]
    assert labels["status"].tolist() == ["ok", "repaired", "failed"]
    assert labels.loc[12, "failure_reason"] == "ambiguous"
    assert run.totals.api_calls == 3 and labels["label_cost_usd"].gt(0).all()
    assert again.totals.api_calls == 0 and again.totals.cache_hits == 3  # a rerun pays nothing
    assert (
        again.labels["spend_usd"].sum() == 0 and again.labels["label_cost_usd"].sum() == labels["label_cost_usd"].sum()
    )


def test_agreement_and_distribution():
    a = pd.DataFrame({"sentence_id": [1, 2, 3, 4], "topic": [0, 1, 1, -1]})
    b = pd.DataFrame({"sentence_id": [1, 2, 3, 4], "topic": [0, 1, 2, 2]})
    result = agreement(a, b)
    assert result["sentences"] == 3 and result["agreement"] == pytest.approx(2 / 3)
    labels = pd.DataFrame({"set": ["train"] * 3, "topic_name": ["Sport", None, "Sport"]})
    table = distribution(labels)
    assert table["topic_name"].tolist() == ["Sport", "(failed)"] and table["share"].tolist() == pytest.approx(
        [2 / 3, 1 / 3]
    )
