"""Constrained decoding: the reply format a strategy sends, the grammar the embedded model obeys, the cache key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer
from test_annotate_openai import backend, table

from llm_ner.llm.annotate import LabellingJob, annotate_replies
from llm_ner.llm.backends import make_backend
from llm_ner.llm.cache import ResponseCache, request_key
from llm_ner.llm.constrained import mention_candidates, span_reply_format
from llm_ner.llm.parsing import REPLY_PARSERS
from llm_ner.llm.prompts import PromptStrategy, strategy_from_config
from llm_ner.llm.settings import model_settings
from llm_ner.tags import CONLL_2003

PROJECT_MODELS = Path(__file__).resolve().parents[2] / "data" / "06_models"
SENTENCE = "EU rejects German call to boycott British lamb .".split()
TYPES = list(CONLL_2003.names)


def test_mentions_are_the_sentences_word_spans_each_once():
    tokens = '( Reuters ) - Bonn , Bonn " Kohl "'.split()
    mentions = mention_candidates(tokens, max_tokens=3)
    assert "Reuters" in mentions and "Bonn , Bonn" in mentions and "Kohl" in mentions
    assert mentions.count("Bonn") == 1  # the same text twice is one alternative
    # a mention starts and ends on a word, never on punctuation, and is at most max_tokens long
    assert not [m for m in mentions if m[0] in '(),-"' or m[-1] in '(),-"']
    assert 'Bonn , Bonn " Kohl' not in mentions and all(len(m.split()) <= 3 for m in mentions)
    # a list names at most as many entities as the sentence has words; with no word, lists stay empty
    lists = span_reply_format(tokens, ["PER"])["json_schema"]["schema"]["properties"]["PER"]
    assert lists["maxItems"] == 4
    lists = span_reply_format([".", "--"], ["PER"])["json_schema"]["schema"]["properties"]["PER"]
    assert lists["items"]["enum"] == [""] and lists["maxItems"] == 1


def test_constrained_needs_a_span_reply_without_a_marker():
    with pytest.raises(ValueError, match=r"strategy 'tok': `constrained: true`.*needs `reply: spans`"):
        strategy_from_config("tok", {"reply": "tokens", "user": "$tokens", "constrained": True})
    with pytest.raises(ValueError, match=r"strategy 'cot': .*no `result_marker`"):
        strategy_from_config(
            "cot", {"reply": "spans", "user": "$sentence", "result_marker": "Result:", "constrained": 1}
        )
    free = strategy_from_config("s", {"reply": "spans", "user": "$sentence"})
    assert free.reply_format(SENTENCE) is None
    assert strategy_from_config("s", {"reply": "spans", "user": "$sentence", "constrained": True}).reply_format(
        SENTENCE
    ) == span_reply_format(SENTENCE, TYPES)


def test_the_format_goes_to_the_server_and_into_the_cache_key_only_when_on(tmp_path):
    reply = json.dumps({"PER": [], "ORG": ["EU"], "LOC": [], "MISC": ["German", "British"]})
    free = PromptStrategy(name="spans", reply="spans", user="Entities as JSON.\nSentence: $sentence")
    constrained = PromptStrategy(**{**free.__dict__, "constrained": True})
    generation = {"max_tokens": 64}
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer(lambda user, attempt: ("reply", reply)) as server:
        api = backend(server)
        runs = {
            strategy.constrained: annotate_replies(
                LabellingJob(strategy, api, cache, [generation], show_progress=False), table([" ".join(SENTENCE)])
            )[0]
            for strategy in (free, constrained)
        }
        bodies = [request["body"] for request in server.requests]
        again = annotate_replies(
            LabellingJob(constrained, api, cache, [generation], show_progress=False), table([" ".join(SENTENCE)])
        )[0]
        assert len(server.requests) == 2  # the rerun is answered from the cache
    assert "response_format" not in bodies[0]
    assert bodies[1]["response_format"] == span_reply_format(SENTENCE, TYPES)
    assert bodies[1]["response_format"]["json_schema"]["strict"] is True
    # off: the key is the one every earlier run stored (old caches stay valid); on: another key
    messages = free.messages(SENTENCE)
    off_key = request_key(api.identity, messages, generation)
    on_key = request_key(api.identity, messages, {**generation, "response_format": span_reply_format(SENTENCE, TYPES)})
    assert off_key in cache and on_key in cache and off_key != on_key
    assert runs[True].labels.at[0, "status"] == "ok" and again.totals.cache_hits == 1
    assert list(runs[True].labels.at[0, "llm_tags"]) == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]


def _copy_prompt(reply: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Repeat this JSON exactly, with nothing before or after it:\n{reply}"}]


@pytest.mark.slow
def test_the_grammar_holds_the_embedded_model_to_the_sentences_mentions_and_the_schemas_types():
    """The real llama.cpp grammar engine: asked to copy a reply, the model copies a valid one as is;
    asked to copy one that names a mention not in the sentence or a type outside the schema, it
    does so freely but cannot when constrained."""
    settings = model_settings("qwen-0.5b", {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct", "n_ctx": 1024})
    local = make_backend(settings, model_dir=PROJECT_MODELS)
    greedy = {"max_tokens": 64, "temperature": 0.0, "seed": 0}
    constrained = {**greedy, "response_format": span_reply_format(SENTENCE, TYPES)}
    valid = json.dumps({"PER": [], "ORG": ["EU"], "LOC": [], "MISC": ["German", "British"]})
    foreign_mention = json.dumps({"PER": [], "ORG": ["EU"], "LOC": ["France"], "MISC": []})
    foreign_type = json.dumps({"PER": [], "ORG": ["EU"], "GPE": ["British"], "MISC": []})
    try:
        replies = {
            (name, kind): local.complete(_copy_prompt(reply), generation).text
            for name, reply in [("valid", valid), ("mention", foreign_mention), ("type", foreign_type)]
            for kind, generation in [("free", greedy), ("constrained", constrained)]
        }
    finally:
        local.close()

    assert json.loads(replies["valid", "constrained"]) == json.loads(valid)
    assert "France" in replies["mention", "free"] and "GPE" in replies["type", "free"]  # what the grammar stops
    assert "France" not in replies["mention", "constrained"] and "GPE" not in replies["type", "constrained"]
    for name in ("valid", "mention", "type"):
        reply = json.loads(replies[name, "constrained"])
        assert list(reply) == TYPES
        assert all(m in mention_candidates(SENTENCE) for mentions in reply.values() for m in mentions)
        labels = REPLY_PARSERS["spans"](replies[name, "constrained"], SENTENCE, 85.0, None, CONLL_2003)
        assert labels.status == "ok", (name, replies[name, "constrained"])
