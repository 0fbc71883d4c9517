"""The local engine: prefix reuse and parallel samples must not change what the model answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_ner.corpus import load_split
from llm_ner.llm.backends import make_backend
from llm_ner.llm.local_engine import common_prefix_length, reusable_prefix, stop_at
from llm_ner.llm.settings import model_settings

PROJECT_MODELS = Path(__file__).resolve().parents[2] / "data" / "06_models"
GREEDY = {"max_tokens": 48, "temperature": 0.0, "seed": 0, "stop": ["\nSentence:"]}


def test_common_prefix_and_the_aligned_part_that_is_reused():
    assert common_prefix_length([1, 2, 3, 4], [1, 2, 9]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2
    # whole blocks only, and a tail is always evaluated (at least the last token: its logits pick the first reply token)
    assert reusable_prefix(list(range(100)), list(range(70)) + [0], block=32, tail=1) == 64
    assert reusable_prefix(list(range(100)), list(range(64)), block=32, tail=1) == 32
    assert reusable_prefix(list(range(10)), list(range(10)), block=1, tail=1) == 9
    assert reusable_prefix(list(range(200)), list(range(200)), block=8, tail=64) == 136
    assert reusable_prefix(list(range(200)), list(range(50)), block=8, tail=64) == 0
    assert reusable_prefix([5], [6, 7], block=1, tail=1) == 0


def test_stop_sequences_cut_where_the_earliest_one_starts():
    assert stop_at("abc\nSentence: x", 3, ["\nSentence:"]) == 3
    assert stop_at("no stop here", 4, ["\nSentence:"]) is None
    assert stop_at("a END b STOP", 8, ["STOP", "END"]) == 2
    assert stop_at("anything", 2, []) is None
    # a stop sequence completed earlier was already cut: only the window the new piece can complete is searched
    assert stop_at("x" * 50 + "END" + "y" * 50, 1, ["END"]) is None


def test_the_engine_settings_are_checked_and_local_only():
    local = {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct"}
    with pytest.raises(ValueError, match=r"llm_models\.qwen\.parallel_samples: Input should be greater than 0, got 0"):
        model_settings("qwen", {**local, "parallel_samples": 0})
    with pytest.raises(ValueError, match=r"llm_models\.qwen\.n_threads: Input should be greater than 0, got 0"):
        model_settings("qwen", {**local, "n_threads": 0})
    with pytest.raises(ValueError, match=r"\['n_threads'\] do not apply to backend 'openai'"):
        model_settings("api", {"backend": "openai", "model": "gpt-4o-mini", "n_threads": 2})
    assert model_settings("qwen", {**local, "n_threads": 2}).n_threads == 2


def huang_prompt(tokens: list[str]) -> list[dict[str, str]]:
    """Prompts that share a long instruction prefix, as every sentence of a strategy does."""
    instructions = (
        "You are an expert of natural language processing annotation. Identify each named entity of the "
        "sentence and classify it as PER (person), ORG (organization), LOC (location) or MISC "
        "(miscellaneous). Copy each entity exactly as written and answer with JSON only, of the form "
        '{"PER": [], "ORG": [], "LOC": [], "MISC": []}.\n\n'
        "Sentence: 'Prime Minister Benjamin Netanyahu visited Jerusalem on Monday .'\n"
        'Result: {"PER": ["Benjamin Netanyahu"], "LOC": ["Jerusalem"]}\n\n'
        "Sentence: 'Brazilian Planning Minister Antonio Kandir will submit the 1997 budget to Congress .'\n"
        'Result: {"MISC": ["Brazilian"], "PER": ["Antonio Kandir"], "ORG": ["Congress"]}\n\n'
    )
    return [{"role": "user", "content": instructions + f"Sentence: '{' '.join(tokens)}'\nResult:"}]


@pytest.mark.slow
def test_greedy_replies_are_cyllamas_and_samples_branch_off_the_held_prompt():
    from cyllama import LLM, GenerationConfig

    settings = model_settings("qwen-0.5b", {"backend": "local", "model": "qwen2.5-coder-0.5b-instruct", "n_ctx": 2048})
    backend = make_backend(settings, model_dir=PROJECT_MODELS)
    prompts = [huang_prompt(list(tokens)) for tokens in load_split("valid")["tokens"].iloc[[1, 2, 4, 6, 8]]]
    samples = [{**GREEDY, "temperature": 0.7, "seed": seed} for seed in (1, 2, 3, 4, 5)]
    try:
        greedy = [backend.complete(messages, GREEDY) for messages in prompts]
        reused_by_greedy = backend.reused_tokens
        voted = backend.complete_many(prompts[0], [GREEDY, *samples])
        again = backend.complete_many(prompts[0], [GREEDY, *samples])
    finally:
        backend.close()

    # today's path: cyllama's LLM.chat, which evaluates every prompt from scratch
    reference = LLM(str(backend.model_path), config=GenerationConfig(n_ctx=2048, n_gpu_layers=0))
    try:
        config = GenerationConfig(
            max_tokens=48, temperature=0.0, seed=0, stop_sequences=["\nSentence:"], n_ctx=2048, n_gpu_layers=0
        )
        expected = [reference.chat(messages, config=config) for messages in prompts]
    finally:
        reference.close()
    assert [c.text for c in greedy] == [r.text for r in expected]
    assert [(c.input_tokens, c.output_tokens) for c in greedy] == [
        (r.stats.prompt_tokens, r.stats.generated_tokens) for r in expected
    ]
    assert reused_by_greedy >= 4 * 64  # the instructions were evaluated once, not five times

    assert voted[0].text == greedy[0].text  # the greedy vote, after the other prompts, is still the same reply
    assert [c.text for c in voted] == [c.text for c in again]  # seeded samples are reproducible
    assert len({c.text for c in voted[1:]}) > 1  # and they are samples: five seeds at 0.7 do not all agree
    assert all(c.input_tokens == greedy[0].input_tokens for c in voted)
    assert all("\nSentence:" not in c.text and c.output_tokens <= 48 for c in voted)
