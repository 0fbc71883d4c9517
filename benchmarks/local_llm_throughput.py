"""Seconds per sentence of the embedded LLM: today's path (cyllama's LLM.chat, every prompt from
scratch) against the local engine (shared prefixes evaluated once, samples side by side).

On the same validation sentences and knn_few_shot prompts as the llm_annotation pipeline, in one run:
greedy labelling (median of ``--repeats``), and self-consistency with n = 3 and n = 5 replies (the
greedy reply plus n - 1 samples at 0.7), each as a ratio to its path's greedy time. It also checks
that the engine's greedy replies are the LLM.chat ones, byte for byte. Nothing is cached.

    .venv/bin/python benchmarks/local_llm_throughput.py --sentences 50 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from llm_ner.corpus import load_split
from llm_ner.llm.backends import LocalBackend
from llm_ner.llm.local_model import ensure_local_model
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.llm.study import AnnotationStudy
from llm_ner.pipelines.llm_annotation.nodes import sample_demonstration_pool, sample_sentences
from llm_ner.settings import project_parameters
from llm_ner.tags import LabelSchema


def knn_prompts(n: int, strategy: str) -> tuple[list, dict, object]:
    config = project_parameters("base")
    params = dict(config["llm_annotation"], cache_path="/dev/null", show_progress=False)
    settings = parse_llm_settings(
        params,
        config["llm_models"],
        config["llm_prompts"],
        config["cost_model"]["llm_prices"],
        LabelSchema.from_config(config["entity_types"]),
    )
    train, valid = load_split("train"), load_split("valid")
    pool = sample_sentences(train, params["pool_size"], params["seed"])
    demonstrations = sample_demonstration_pool(train, pool, params["demonstration_pool_size"], params["seed"])
    sentences = sample_sentences(valid, n, params["seed"])
    chosen = AnnotationStudy(settings)._demonstrations_for(strategy, sentences, demonstrations)
    prompts = [settings.strategies[strategy].messages(list(t), d) for t, d in zip(sentences["tokens"], chosen)]
    return prompts, settings.annotation.generation.request(), settings.models["qwen-0.5b"]


def samples_of(greedy: dict, n: int) -> list[dict]:
    return [greedy] + [{**greedy, "temperature": 0.7, "seed": greedy["seed"] + i} for i in range(1, n)]


def todays_path(model_path, n_ctx: int, prompts, generations) -> tuple[float, list[str]]:
    """What LocalBackend did before the engine: one LLM.chat call per reply."""
    from cyllama import LLM, GenerationConfig

    llm = LLM(str(model_path), config=GenerationConfig(n_ctx=n_ctx, n_gpu_layers=0))
    texts, started = [], time.perf_counter()
    try:
        for messages in prompts:
            for g in generations:
                config = GenerationConfig(
                    max_tokens=g["max_tokens"],
                    temperature=g["temperature"],
                    seed=g["seed"],
                    stop_sequences=list(g["stop"]),
                    n_ctx=n_ctx,
                    n_gpu_layers=0,
                )
                texts.append(llm.chat(messages, config=config).text)
    finally:
        llm.close()
    return (time.perf_counter() - started) / len(prompts), texts


def engine_path(settings, model_path, prompts, generations) -> tuple[float, list[str], int]:
    backend = LocalBackend(settings, model_path)
    texts, started = [], time.perf_counter()
    try:
        for messages in prompts:
            texts += [r.text for r in backend.complete_many(messages, generations)]
    finally:
        reused = backend.reused_tokens
        backend.close()
    return (time.perf_counter() - started) / len(prompts), texts, reused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="greedy runs per path (the median is printed)")
    parser.add_argument("--strategy", default="knn_few_shot")
    parser.add_argument("--samples", type=int, nargs="*", default=[3, 5])
    args = parser.parse_args()

    prompts, greedy, settings = knn_prompts(args.sentences, args.strategy)
    model_path = ensure_local_model(settings.model, "data/06_models")
    print(
        f"{args.sentences} validation sentences, {args.strategy}, {settings.model}; {os.cpu_count()} CPUs, "
        f"llama.cpp threads {settings.n_threads or 'default (4)'}, parallel samples {settings.parallel_samples}"
    )

    old = [todays_path(model_path, settings.n_ctx, prompts, [greedy]) for _ in range(args.repeats)]
    new = [engine_path(settings, model_path, prompts, [greedy]) for _ in range(args.repeats)]
    old_greedy, new_greedy = statistics.median(s for s, _ in old), statistics.median(s for s, _, _ in new)
    same = sum(a == b for a, b in zip(old[0][1], new[0][1]))
    reused = new[0][2] / len(prompts)
    print(
        f"greedy: today {old_greedy:.2f} s/sentence, engine {new_greedy:.2f} s/sentence "
        f"(x{old_greedy / new_greedy:.2f} faster; median of {args.repeats}); {same}/{len(prompts)} replies identical; "
        f"{reused:.0f} prompt tokens per sentence reused"
    )
    for n in args.samples:
        generations = samples_of(greedy, n)
        old_seconds, old_texts = todays_path(model_path, settings.n_ctx, prompts, generations)
        new_seconds, new_texts, _ = engine_path(settings, model_path, prompts, generations)
        same_greedy = sum(a == b for a, b in zip(old_texts[::n], new_texts[::n]))
        print(
            f"self-consistency n={n}: today {old_seconds:.2f} s/sentence ({old_seconds / old_greedy:.2f}x greedy), "
            f"engine {new_seconds:.2f} s/sentence ({new_seconds / new_greedy:.2f}x greedy); "
            f"greedy votes identical {same_greedy}/{len(prompts)}"
        )


if __name__ == "__main__":
    main()
