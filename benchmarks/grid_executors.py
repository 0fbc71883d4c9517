"""Cells per minute of one experiment grid under each executor, in one run, ratios against sequential.

The grid: ``--cells`` real students (MiniLM-L6 + BiLSTM, the study's protocol) on different seeded
samples of ``--sentences`` CoNLL train sentences, ``--epochs`` epochs each, scored on
``--eval-sentences`` validation sentences -- the shape of a budget sweep's cells.

- ``sequential``: one process, torch's default thread count (all cores) -- the baseline, today's
  behaviour;
- ``processes``: ``--workers`` spawned worker processes x ``--threads`` torch threads each;
- ``ray``: Ray tasks, ``--workers`` CPUs for Ray, 1 CPU (``--threads`` torch threads) per cell;
  on a GPU (``--device cuda``) also ``ray`` with ``--cells-per-gpu`` students sharing it.

Every (executor, repetition) runs in its own child process; repetitions are interleaved; the
figures are the median wall time of the grid (worker start-up included: a user pays it; Ray's
``ray.init`` is timed apart, once per `kedro run`). Every executor must return the same scores:
the run checks that the test F1 of every cell matches sequential's to 1e-6 on the CPU.

    .venv/bin/python benchmarks/grid_executors.py                        # 12 cells, 2 workers x 1 thread, CPU
    .venv/bin/python benchmarks/grid_executors.py --device cuda --cells 32 --cells-per-gpu 4 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def grid_cells(args):
    from llm_ner.corpus import load_split
    from llm_ner.grid import Cell
    from llm_ner.model import TaggerConfig, TrainingConfig, labelled_sentences
    from llm_ner.sampling import derive_seed, seeded_sample
    from llm_ner.students import Protocol, Student

    protocol = Protocol(
        TaggerConfig(encoder_weights=args.encoder_weights),
        TrainingConfig(
            epochs=args.epochs,
            batch_size=8,
            learning_rate=1e-4,
            head_learning_rate=2e-3,
            early_stopping_patience=None,
            progress_bar=False,
            device=args.device,
        ),
    )
    train, valid = load_split("train"), load_split("valid")
    evaluation = {"test": labelled_sentences(valid.iloc[: args.eval_sentences])}
    cells = []
    for i in range(args.cells):
        seed = derive_seed(1, "cell", i)
        sentences = labelled_sentences(seeded_sample(train, args.sentences, seed))
        cells.append(Cell({"cell": i}, Student(protocol, (sentences,), seed, evaluation)))
    return cells


def measure(args) -> dict:
    """One grid under one executor, in this (fresh) process."""
    from llm_ner.grid import Grid, Processes, Ray, Sequential

    cells = grid_cells(args)
    ray_start = 0.0
    if args.one == "sequential":
        executor = Sequential()
    elif args.one == "processes":
        executor = Processes(workers=args.workers, threads_per_cell=args.threads)
    else:
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=args.workers if args.device == "cpu" else None, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
        executor = Ray(cpus_per_cell=args.threads, gpus_per_cell=1 / args.per_gpu if args.per_gpu else 0)
    started = time.perf_counter()
    table = Grid(executor, progress_bar=False).table("benchmark", cells)
    seconds = time.perf_counter() - started
    micro = table[(table["entity_type"] == "micro")]
    return {"seconds": seconds, "ray_init_seconds": ray_start, "f1": micro["f1"].tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--sentences", type=int, default=64, help="training sentences per cell")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-sentences", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker / Ray task")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--encoder-weights",
        default="pretrained",
        choices=["pretrained", "random"],
        help="random: MiniLM's architecture, freshly initialised -- the same compute, for a machine "
        "the pretrained weights cannot be carried to (the F1 then means nothing)",
    )
    parser.add_argument("--cells-per-gpu", type=int, nargs="*", default=[], help="ray on a GPU: students sharing it")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--per-gpu", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args)))
        return

    variants = (
        [("sequential", 0), ("processes", 0), ("ray", 0)]
        if args.device == "cpu"
        else [("sequential", 0)] + [("ray", n) for n in args.cells_per_gpu]
    )
    results: dict[tuple[str, int], list[dict]] = {v: [] for v in variants}
    passed = [a for a in sys.argv[1:]]
    for repetition in range(args.repetitions):
        for name, per_gpu in variants:
            output = subprocess.run(
                [sys.executable, __file__, *passed, "--one", name, "--per-gpu", str(per_gpu)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            results[(name, per_gpu)].append(result)
            print(
                f"  repetition {repetition + 1}: {name}{f' ({per_gpu} per GPU)' if per_gpu else ''} "
                f"{result['seconds']:.1f} s",
                flush=True,
            )

    base = statistics.median(r["seconds"] for r in results[("sequential", 0)])
    reference_f1 = results[("sequential", 0)][0]["f1"]
    print(
        f"\n{args.cells} cells ({args.sentences} sentences x {args.epochs} epochs, "
        f"MiniLM ({args.encoder_weights}) + BiLSTM, "
        f"{args.eval_sentences} evaluation sentences), device {args.device}, median of {args.repetitions}:"
    )
    print(f"{'executor':<36} {'grid s':>8} {'min s':>7} {'cells/min':>10} {'vs sequential':>14}  same F1")
    for (name, per_gpu), runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        same = all(max(abs(a - b) for a, b in zip(r["f1"], reference_f1)) <= 1e-6 for r in runs)
        label = {
            "sequential": "sequential (torch default threads)",
            "processes": f"processes ({args.workers} x {args.threads} thread)",
            "ray": f"ray ({args.workers} x {args.threads} CPU)" if not per_gpu else f"ray ({per_gpu} cells per GPU)",
        }[name]
        print(
            f"{label:<36} {seconds:8.1f} {min(r['seconds'] for r in runs):7.1f} {60 * args.cells / seconds:10.2f} "
            f"{base / seconds:13.2f}x  {'yes' if same else 'NO'}"
        )
        if name == "ray":
            print(
                f"{'':<36} ray.init: {statistics.median(r['ray_init_seconds'] for r in runs):.1f} s "
                "(once per run, not in the grid time)"
            )


if __name__ == "__main__":
    main()
