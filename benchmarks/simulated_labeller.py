"""Does the labeller simulator stand in for the real labeller? Issue 24's validation, measured.

The seed's llama-3.1-405b labels of 2,037 train sentences are the real labeller. Its error profile
(``llm_ner.llm.simulated``) is measured on them and calibrated, on the same sentences, to the
real labels' own micro F1; the simulated labels of those sentences are then compared with the real
ones twice:

1. as labels: precision, recall and F1 per entity type against gold;
2. as training data: students under the study's one protocol (conf/base ``student``: MiniLM +
   BiLSTM + shapes, 8 epochs at batch 8), LLM-only (the 2,037 labels alone) and Huang's regimen D
   (a seeded half of them, then 1,000 gold train sentences outside the pool), the same seeds for
   both labellers, test micro F1 on the study's 500 test sentences; mean ± std over the seeds.

Every student is a grid cell stored under ``--store``: a killed run resumes. Gold consumed: the
1,000 gold sentences of regimen D (none for LLM-only); calibrating needs the pool's gold, as any
simulation does (it is a what-if, not a labelling method).

    .venv/bin/python benchmarks/simulated_labeller.py --seeds 1 2 3 --workers 2
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
from llm_ner.llm.simulated import ErrorProfile, calibrate_scale, simulate_labels
from llm_ner.metrics import entity_scores
from llm_ner.model import labelled_sentences
from llm_ner.sampling import seeded_sample
from llm_ner.settings import project_parameters
from llm_ner.students import Protocol, Student
from llm_ner.tags import CONLL_2003

SEED_LABELS = Path(__file__).resolve().parents[2] / "shared/data/seed_llm_annotations/llm_train_head.conll"


def label_table(gold, labellers: dict[str, list]) -> pd.DataFrame:
    rows = []
    for name, tags in labellers.items():
        scores = entity_scores(gold, tags)
        for entity_type, row in scores.iterrows():
            rows.append({"labeller": name, "entity_type": entity_type, **row[["precision", "recall", "f1"]].round(3)})
    return pd.DataFrame(rows).pivot(index="entity_type", columns="labeller")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default=str(SEED_LABELS), help="the real labeller's CoNLL file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--simulation-seed", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--routes", nargs="+", default=["llm_only", "regimen_D"])
    parser.add_argument("--store", default="data/07_model_output/grid_cells")
    parser.add_argument("--out", default="data/08_reporting/simulated_labeller_validation.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    train = load_split("train")
    real, _ = import_conll_labels(args.labels, train)
    tokens, gold = list(real["tokens"]), list(real["gold_tags"])
    profile = ErrorProfile.measure(gold, list(real["llm_tags"]), tokens)
    calibration = calibrate_scale(tokens, gold, profile, profile.label_f1, seed=args.simulation_seed)
    simulated = real.assign(llm_tags=simulate_labels(tokens, gold, profile, calibration.scale, args.simulation_seed))
    print(f"profile of {len(real)} sentences: label F1 {profile.label_f1:.3f}; calibrated scale "
          f"{calibration.scale:.3f} gives {calibration.label_f1:.3f}")
    print(profile.summary().round(3).to_string(index=False))
    print(label_table(gold, {"real": list(real["llm_tags"]), "simulated": list(simulated["llm_tags"])}).to_string())

    parameters = project_parameters("study")
    protocol = Protocol.of(parameters["student"], CONLL_2003)
    test = seeded_sample(load_split("test"), parameters["training"]["evaluation"]["max_sentences"],
                         parameters["training"]["evaluation"]["seed"])
    evaluation = {"test": labelled_sentences(test)}
    expert = labelled_sentences(seeded_sample(train, 1000, 11, exclude=real))
    cells = []
    for labeller, table in (("real", real), ("simulated", simulated)):
        llm = labelled_sentences(table, "llm_tags")
        half = labelled_sentences(seeded_sample(table, len(table) // 2, 11), "llm_tags")
        phases = {"llm_only": (llm,), "regimen_D": (half, expert)}
        for route in args.routes:
            for seed in args.seeds:
                cells.append(Cell({"route": route, "labeller": labeller, "seed": seed},
                                  Student(protocol, phases[route], seed, evaluation)))
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
