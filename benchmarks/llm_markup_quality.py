"""Measure markup quality of strategies x one model on N validation sentences, pair by pair.

Writes one CSV row as soon as each strategy x model finishes (so a long run reports partial
results), using the same samples and configuration as the llm_annotation pipeline, plus the
labels behind it (parquet) and, when a confidence method is set, F1 of the labels kept above each
confidence threshold. The response cache makes a second run answer everything from disk -- the
script prints the API calls made.

    .venv/bin/python benchmarks/llm_markup_quality.py --sentences 200 --model qwen-0.5b \
        --strategies knn_few_shot --confidence self_consistency \
        --cache /tmp/quality200/cache.sqlite --out /tmp/quality200/markup_quality.csv

``--override`` changes parameters for one run, e.g. fewer kNN demonstrations (a shorter prompt):
``--override llm_prompts.strategies.knn_few_shot.k=2``, or constrained decoding:
``--override llm_prompts.strategies.knn_few_shot.constrained=true``. ``--second-sample`` scores a
second validation sample instead, disjoint from the pipeline's (seeded with seed + 1), so that a
choice made on the first can be checked on sentences it was not made on.

``--compare BASE OTHER`` (two labels parquets written by runs on the same sentences) prints the
paired bootstrap difference of micro F1, OTHER - BASE, and exits.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from llm_ner.corpus import load_split
from llm_ner.llm.quality import confidence_thresholds, markup_quality_row, tags_or_outside
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.llm.study import AnnotationStudy
from llm_ner.metrics import paired_bootstrap_difference
from llm_ner.pipelines.llm_annotation.nodes import sample_demonstration_pool, sample_sentences
from llm_ner.settings import project_parameters
from llm_ner.tags import LabelSchema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--model", default="qwen-0.5b")
    parser.add_argument("--strategies", nargs="*", help="default: llm_annotation.evaluate.strategies")
    parser.add_argument("--confidence", default=None, help="llm_annotation.confidence.method for this run")
    parser.add_argument("--samples", type=int, default=None, help="self-consistency samples")
    parser.add_argument("--env", default="base")
    parser.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="parameters changed for this run, e.g. llm_prompts.strategies.knn_few_shot.k=2",
    )
    parser.add_argument("--second-sample", action="store_true", help="a disjoint validation sample (seed + 1)")
    parser.add_argument("--cache")
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs=2, metavar=("BASE", "OTHER"), help="labels parquets: paired difference")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if not (args.cache and args.out):
        parser.error("--cache and --out are required (unless --compare)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    config = OmegaConf.to_container(
        OmegaConf.merge(project_parameters(args.env), OmegaConf.from_dotlist(args.override))
    )
    params = dict(config["llm_annotation"])
    confidence = dict(params.get("confidence") or {})
    if args.confidence:
        confidence["method"] = args.confidence
    if args.samples:
        confidence["samples"] = args.samples
    params.update(cache_path=args.cache, show_progress=False, confidence=confidence)
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
    sample = sample_sentences(valid, args.sentences, params["seed"])
    if args.second_sample:
        rest = valid[~valid["sentence_id"].isin(sample["sentence_id"])]
        sample = sample_sentences(rest, args.sentences, params["seed"] + 1)
    strategies = args.strategies or list(settings.annotation.evaluate.strategies)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    study = AnnotationStudy(settings)
    method = settings.annotation.confidence.method
    try:
        for strategy in strategies:
            started = time.perf_counter()
            run = study.annotate(strategy, args.model, sample, demonstrations)
            row = markup_quality_row(run.labels, settings.annotation.evaluation_mode, settings.schema)
            row.update(confidence=method, retries=run.retries, wall_seconds=round(time.perf_counter() - started, 1))
            pd.DataFrame([row]).to_csv(out, mode="a", header=not out.exists(), index=False)
            stem = f"{out.stem}_{strategy}_{args.model}_{method}"
            run.labels.to_parquet(out.with_name(f"{stem}.parquet"))
            thresholds = confidence_thresholds(run.labels, mode=settings.annotation.evaluation_mode)
            if not thresholds.empty:
                thresholds.to_csv(out.with_name(f"{stem}_thresholds.csv"), index=False)
            print(
                f"{strategy} x {args.model} (confidence {method}): F1 {row['f1']:.3f} "
                f"[{row['f1_low']:.3f}, {row['f1_high']:.3f}], per type "
                + ", ".join(f"{t} {row[f'{t}_f1']:.3f}" for t in settings.schema.names)
                + f", {row['prompt_tokens_per_sentence']:.0f} prompt tokens/sentence, failures "
                f"{row['parse_failure_rate']:.3f}, {row['seconds_per_sentence']:.2f} s/sentence, AUROC "
                f"{row['confidence_auroc']:.3f}, API calls {row['api_calls']}, cache hits {row['cache_hits']}, "
                f"wall {row['wall_seconds']} s",
                flush=True,
            )
    finally:
        study.close()


def compare(base_path: str, other_path: str) -> None:
    base, other = pd.read_parquet(base_path), pd.read_parquet(other_path)
    if list(base["sentence_id"]) != list(other["sentence_id"]):
        raise SystemExit(f"{base_path} and {other_path} label different sentences: no paired comparison")
    gold = [list(tags) for tags in base["gold_tags"]]
    difference = paired_bootstrap_difference(gold, tags_or_outside(base), tags_or_outside(other))
    print(
        f"{Path(other_path).stem} - {Path(base_path).stem}: micro F1 {difference.value:+.3f} "
        f"[{difference.low:+.3f}, {difference.high:+.3f}] (paired bootstrap, {len(gold)} sentences)"
    )


if __name__ == "__main__":
    main()
