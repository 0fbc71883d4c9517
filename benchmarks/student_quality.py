"""Student quality: test F1 of gold-trained taggers, with and without word-shape features.

For every variant (tagger settings, e.g. the head and ``word_features``), training-set size and
seed, a fresh tagger is trained on that many seeded gold train sentences (nested across sizes for
one seed) for a fixed number of epochs -- no early stopping, so no validation gold is consumed --
and scored on one seeded sample of test sentences. Prints micro F1 mean ± std over seeds and the
per-type means, and writes every run and the summary as CSV.

    .venv/bin/python benchmarks/student_quality.py --seeds 1 2 --sizes 1000 \\
        --variant head=bilstm,word_features=shape --variant head=bilstm,word_features=none
    python benchmarks/student_quality.py --encoder /models/minilm --data-dir /data/conll2003 \\
        --device cuda --out results/student_quality.csv

``--data-dir`` is a folder of CoNLL files ``train.txt`` and ``test.txt`` (default: the installed
corpus); ``--encoder`` any Hugging Face id or folder, so no encoder package is needed.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from llm_ner.corpus import load_split
from llm_ner.model import TaggerConfig, TrainingConfig, from_dict, labelled_sentences
from llm_ner.model.learning_curve import learning_curve, summarise_learning_curve
from llm_ner.sampling import seeded_sample
from llm_ner.tags import CONLL_2003

DEFAULT_VARIANTS = (
    "head=bilstm,word_features=shape",
    "head=bilstm,word_features=none",
    "head=linear,word_features=shape",
    "head=linear,word_features=none",
)


def parse_variant(text: str) -> dict:
    """``head=bilstm,word_features=shape`` -> TaggerConfig overrides (numbers parsed as JSON)."""
    overrides = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def load(split: str, data_dir: str | None) -> pd.DataFrame:
    return load_split(split, source="folder", path=data_dir) if data_dir else load_split(split)


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per variant and size: micro F1 mean ± std, then the per-type means."""
    rows = []
    for (variant, size), group in summary.groupby(["variant", "size"], sort=False):
        f1 = group.set_index("entity_type")
        row = {
            "variant": variant,
            "train sentences": size,
            "seeds": int(f1.loc["micro", "runs"]),
            "micro F1": f"{f1.loc['micro', 'f1_mean']:.3f} ± {f1.loc['micro', 'f1_std']:.3f}",
        }
        row.update({kind: f"{f1.loc[kind, 'f1_mean']:.3f}" for kind in CONLL_2003.names if kind in f1.index})
        row["s/run"] = f"{group['seconds_per_run'].iloc[0]:.1f}"
        rows.append(row)
    return pd.DataFrame(rows)


def write(runs: list[pd.DataFrame], summaries: list[pd.DataFrame], out: Path) -> pd.DataFrame:
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(runs, ignore_index=True).to_csv(out, index=False)
    summary = pd.concat(summaries, ignore_index=True)
    summary.to_csv(out.with_name(f"{out.stem}_summary.csv"), index=False)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=TaggerConfig().encoder, help="HF id, folder or package:<module>")
    parser.add_argument("--data-dir", default=None, help="folder with train.txt and test.txt (CoNLL)")
    parser.add_argument("--variant", action="append", help=f"TaggerConfig overrides; default: {DEFAULT_VARIANTS}")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100], help="gold train sentences")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--test-sentences", type=int, default=1000)
    parser.add_argument("--test-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="encoder (conf/base)")
    parser.add_argument("--head-learning-rate", type=float, default=2e-3, help="head (conf/base)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default="student_quality.csv", help="per-run CSV; the summary goes beside it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    pool = labelled_sentences(load("train", args.data_dir))
    test = labelled_sentences(seeded_sample(load("test", args.data_dir), args.test_sentences, args.test_seed))
    training = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        head_learning_rate=args.head_learning_rate,
        early_stopping_patience=None,
        device=args.device,
        progress_bar=False,
    )
    runs, summaries = [], []
    for variant in args.variant or DEFAULT_VARIANTS:
        tagger_config = from_dict(TaggerConfig, {"encoder": args.encoder, **parse_variant(variant)})
        started = time.perf_counter()
        table = learning_curve(pool, {"test": test}, args.sizes, args.seeds, tagger_config, training)
        seconds_per_run = (time.perf_counter() - started) / (len(args.sizes) * len(args.seeds))
        table.insert(0, "variant", variant)
        runs.append(table)
        summary = summarise_learning_curve(table)
        summary.insert(0, "variant", variant)
        summary["seconds_per_run"] = seconds_per_run
        summaries.append(summary)
        print(summary_table(summary).to_string(index=False), flush=True)
        combined = write(runs, summaries, Path(args.out))  # after every variant: a cut-off run keeps its results
    print(
        f"\n{args.epochs} epochs, batch {args.batch_size}, learning rates {args.learning_rate:g} (encoder) / "
        f"{args.head_learning_rate:g} (head), fixed epochs (no validation gold), {len(test)} test sentences "
        f"(seed {args.test_seed}), device {args.device}:"
    )
    print(summary_table(combined).to_string(index=False))


if __name__ == "__main__":
    main()
