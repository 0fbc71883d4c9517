"""Does the labeller simulator stand in for the real labeller? Issue 24's validation, measured.

The seed's llama-3.1-405b labels of 2,037 train sentences are the real labeller. They are split in
two seeded halves: the error profile (``llm_ner.llm.simulated``) is measured on one, and the other
half's sentences are labelled by the simulator, calibrated there to the real labels' own micro F1
-- so no sentence's real labels are replayed. The simulated labels of that half are compared with
its real ones twice:

1. as labels: precision, recall and F1 per entity type against gold, and how consistently each
   labelling treats a word (the share of a repeated word's occurrences with its usual tag);
2. as training data: students under the study's one protocol (conf/study ``student``: MiniLM +
   BiLSTM + shapes, 8 epochs at batch 8), LLM-only (the half's labels alone) and Huang's regimen D
   (those labels, then 1,000 gold train sentences outside the 2,037), the same seeds for every
   labelling, test micro F1 on the study's 500 test sentences; mean ± std over the seeds.

Every student is a grid cell stored under ``--store``: a killed run resumes. Gold consumed: the
1,000 gold sentences of regimen D (none for LLM-only); simulating needs the half's gold, as any
simulation does (it is a what-if, not a labelling method).

    .venv/bin/python benchmarks/simulated_labeller.py --seeds 1 2 3 --workers 2

Another real labeller is validated the same way with ``--labels``: e.g. the embedded 0.5B model's
labels of 1,000 train sentences (docs/label_quality.md has the commands that made them).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from llm_ner.corpus import load_split
from llm_ner.grid import Cell, Grid, Processes, ResultStore, summarise
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.simulated import ErrorProfile, calibrate_scale, tag_determinism
from llm_ner.metrics import entity_scores, micro_span_f1
from llm_ner.model import labelled_sentences
from llm_ner.sampling import seeded_sample
from llm_ner.settings import project_parameters
from llm_ner.students import Protocol, Student
from llm_ner.tags import CONLL_2003

SEED_LABELS = Path(__file__).resolve().parents[2] / "shared/data/seed_llm_annotations/llm_train_head.conll"


def real_labels(path: str, train: pd.DataFrame) -> pd.DataFrame:
    """The real labeller's labels in the llm_labels layout (tokens, gold_tags, llm_tags), as a
    student trains on them: a CoNLL file matched to train, or a saved llm_labels version."""
    if not path.endswith(".parquet"):
        return import_conll_labels(path, train)[0]
    labels = pd.read_parquet(path)
    return labels.assign(**{c: labels[c].map(list) for c in ("tokens", "gold_tags", "llm_tags")})


def label_table(gold, labellers: dict[str, list]) -> pd.DataFrame:
    rows = []
    for name, tags in labellers.items():
        scores = entity_scores(gold, tags)
        for entity_type, row in scores.iterrows():
            rows.append({"labeller": name, "entity_type": entity_type, **row[["precision", "recall", "f1"]].round(3)})
    return pd.DataFrame(rows).pivot(index="entity_type", columns="labeller")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--labels",
        default=str(SEED_LABELS),
        help="the real labeller's labels of train sentences: a CoNLL file, or a saved version of this "
        "project's llm_labels (data/05_model_input/llm_labels.parquet/<version>/llm_labels.parquet)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--simulation-seed", type=int, default=24, help="the halves' split and the simulation's draws")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--routes", nargs="+", default=["llm_only", "regimen_D"])
    parser.add_argument("--store", default="data/07_model_output/grid_cells")
    parser.add_argument("--out", default="data/08_reporting/simulated_labeller_validation.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    train = load_split("train")
    labels = real_labels(args.labels, train)
    profiled = seeded_sample(labels, len(labels) // 2, args.simulation_seed)
    real = labels[~labels["sentence_id"].isin(profiled["sentence_id"])].reset_index(drop=True)
    profile = ErrorProfile.of_labels(profiled)
    tokens, gold = list(real["tokens"]), list(real["gold_tags"])
    target = micro_span_f1(gold, list(real["llm_tags"]))
    calibration = calibrate_scale(tokens, gold, profile, target, seed=args.simulation_seed)
    labellings = {"real": real, "simulated": real.assign(llm_tags=calibration.labels)}
    print(
        f"simulated: consistency {profile.consistency:.3f}, scale {calibration.scale:.3f} gives label F1 "
        f"{calibration.label_f1:.3f}"
    )
    print(
        f"profile of {len(profiled)} sentences (label F1 {profile.label_f1:.3f}); the other {len(real)} "
        f"sentences' real labels: label F1 {target:.3f}"
    )
    print(profile.summary().round(3).to_string(index=False))
    print(label_table(gold, {name: list(table["llm_tags"]) for name, table in labellings.items()}).to_string())
    print(
        "tag determinism: "
        + ", ".join(
            f"{name} {tag_determinism(tokens, list(table['llm_tags'])):.3f}"
            for name, table in {"gold": real.assign(llm_tags=real["gold_tags"]), **labellings}.items()
        )
    )

    parameters = project_parameters("study")
    protocol = Protocol.of(parameters["student"], CONLL_2003)
    test = seeded_sample(
        load_split("test"),
        parameters["training"]["evaluation"]["max_sentences"],
        parameters["training"]["evaluation"]["seed"],
    )
    evaluation = {"test": labelled_sentences(test)}
    expert = labelled_sentences(seeded_sample(train, 1000, 11, exclude=labels))
    cells = []
    for labeller, table in labellings.items():
        llm = labelled_sentences(table, "llm_tags")
        phases = {"llm_only": (llm,), "regimen_D": (llm, expert)}
        for route in args.routes:
            for seed in args.seeds:
                cells.append(
                    Cell(
                        {"route": route, "labeller": labeller, "seed": seed},
                        Student(protocol, phases[route], seed, evaluation),
                    )
                )
    grid = Grid(Processes(workers=args.workers, threads_per_cell=1), ResultStore(args.store))
    started = time.perf_counter()
    runs = grid.table("simulated_labeller_validation", cells)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out, index=False)
    micro = runs[runs["entity_type"] == "micro"]
    summary = summarise(micro, ["route", "labeller"], "seed", ["f1"])
    print(f"\n{len(cells)} students in {time.perf_counter() - started:.0f} s ({args.workers} workers); test micro F1:")
    print(summary.round(3).to_string(index=False))
    print(micro.pivot(index=["route", "seed"], columns="labeller", values="f1").round(3).to_string())


if __name__ == "__main__":
    main()
