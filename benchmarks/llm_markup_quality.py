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
``--override llm_prompts.strategies.knn_few_shot.k=2``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from llm_ner.corpus import load_split
from llm_ner.llm.quality import confidence_thresholds, markup_quality_row
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.llm.study import AnnotationStudy
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
    parser.add_argument("--cache", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
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
                f"{strategy} x {args.model} (confidence {method}): F1 {row['f1']:.3f}, failures "
                f"{row['parse_failure_rate']:.3f}, {row['seconds_per_sentence']:.2f} s/sentence, AUROC "
                f"{row['confidence_auroc']:.3f}, API calls {row['api_calls']}, cache hits {row['cache_hits']}, "
                f"wall {row['wall_seconds']} s",
                flush=True,
            )
    finally:
        study.close()


if __name__ == "__main__":
    main()
