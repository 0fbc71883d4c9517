"""Where one epoch of :func:`llm_ner.model.fit` spends its time.

Trains a fresh tagger for one epoch under ``cProfile`` and prints the cumulative seconds of the
parts of the loop (tokenisation, collate, setting up and writing back the used word-embedding rows,
encoder, first-sub-word gather, BiLSTM, loss, backward, clipping, optimizer), then fits the same
sentences a second time (the encoding cache's case: mixed annotation and active learning fit many
times on overlapping sets), then, with ``--ops``, the operators that use the most time under
``torch.profiler``. cProfile adds a few microseconds to every Python call, so per-word Python
(tokenisation, collate) looks somewhat dearer than it is.

    .venv/bin/python benchmarks/profile_training.py --sentences 400 --threads 1 --head linear
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time

from training_throughput import add_corpus_arguments, corpus

# (row label, file name ending(s), function name): the cumulative time of every matching function is
# summed, except where one matching function calls another (the BERT modules' nested forwards:
# their largest cumulative time, the whole encoder's, is taken).
PARTS = (
    ("tokenisation (encode_sentences)", "encoding.py", "encode_sentences"),
    ("batch order (length_bucketed_batches)", "encoding.py", "length_bucketed_batches"),
    ("collate (padding into tensors)", "encoding.py", "collate"),
    ("used embedding rows (set-up, write-back)", "used_rows.py", "training_only_used_rows"),
    ("tagger forward", "tagger.py", "forward"),
    ("  encoder forward", "modeling_bert.py", "forward"),
    ("  first-sub-word gather", "~", "<built-in method torch.gather>"),
    ("  pack/unpack (BiLSTM)", "rnn.py", "pack_padded_sequence"),
    ("  pack/unpack (BiLSTM)", "rnn.py", "pad_packed_sequence"),
    ("  LSTM", "rnn.py", "forward"),
    ("loss", "functional.py", "cross_entropy"),
    ("backward", "_tensor.py", "backward"),
    ("gradient clipping", "clip_grad.py", "clip_grad_norm_"),
    ("optimizer step", ("adam.py", "adamw.py", "sgd.py"), "step"),
    ("zero_grad", "optimizer.py", "zero_grad"),
)
NESTED = {"  encoder forward"}


def part_seconds(stats: pstats.Stats) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for label, file_end, function in PARTS:
        matching = [
            cumulative
            for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items()
            if file.endswith(file_end) and name == function
        ]
        total = max(matching, default=0.0) if label in NESTED else sum(matching)
        seconds[label] = seconds.get(label, 0.0) + total
    return seconds


def profiled_fit(tagger, pairs, config) -> tuple[dict[str, float], float]:
    from llm_ner.model import fit

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(fit, tagger, pairs, config)
    wall = time.perf_counter() - started
    return part_seconds(pstats.Stats(profiler)), wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser)
    parser.add_argument("--head", default="bilstm", choices=("bilstm", "linear"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = torch's default")
    parser.add_argument("--ops", type=int, default=15, help="torch.profiler rows (0: skip that pass)")
    args = parser.parse_args(argv)

    import torch

    from llm_ner.model import Tagger, TaggerConfig, TrainingConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    tokens, tags, _, _ = corpus(args, args.sentences, 0)
    pairs = list(zip(tokens, tags))
    tagger = Tagger.build(TaggerConfig(encoder=args.encoder, head=args.head), seed=0)
    config = TrainingConfig(epochs=1, batch_size=args.batch_size, progress_bar=False, seed=0, device="cpu")
    first, first_wall = profiled_fit(tagger, pairs, config)
    second, second_wall = profiled_fit(tagger, pairs, config)
    print(
        f"one epoch, {len(pairs)} sentences, {args.head} head, word_features={tagger.config.word_features}, "
        f"batch {args.batch_size}, threads {torch.get_num_threads()}, CPU; cProfile cumulative seconds"
    )
    print(f"{'':40} {'1st fit':>8} {'share':>6} {'2nd fit':>8} {'share':>6}  (share of the fit's wall time)")
    for label in first:
        print(
            f"{label:40} {first[label]:8.3f} {first[label] / first_wall:6.1%} "
            f"{second[label]:8.3f} {second[label] / second_wall:6.1%}"
        )
    print(f"{'wall (with profiler)':40} {first_wall:8.3f} {'':6} {second_wall:8.3f}")
    if args.ops:
        from torch.profiler import ProfilerActivity, profile

        from llm_ner.model import fit

        with profile(activities=[ProfilerActivity.CPU]) as operators:
            fit(tagger, pairs, config)
        print(operators.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
