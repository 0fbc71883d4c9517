"""The experiment grid: the same cells give the same scores under every executor; a grid killed or
failing mid-way resumes and trains only the missing cells; a changed parameter misses the store; a
corrupt stored result is recomputed. Real (tiny, randomly initialised) students on CoNLL sentences."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llm_ner import grid as grid_module
from llm_ner.corpus import load_split
from llm_ner.grid import Cell, Grid, GridCellError, Processes, ResultStore, Sequential, fingerprint, summarise
from llm_ner.model import TaggerConfig, TrainingConfig, labelled_sentences
from llm_ner.sampling import derive_seed
from llm_ner.students import Protocol, Student

PROTOCOL = Protocol(
    TaggerConfig(
        encoder_weights="random",
        lstm_hidden_size=8,
        max_subwords=64,
        encoder_overrides={
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
        },
    ),
    TrainingConfig(
        epochs=2,
        batch_size=4,
        learning_rate=1e-2,
        head_learning_rate=1e-2,
        schedule="constant",
        early_stopping_patience=None,
        progress_bar=False,
        device="cpu",
    ),
)


def make_cells(protocol: Protocol = PROTOCOL, count: int = 4, bad: int | None = None) -> list[Cell]:
    """``count`` students on different slices of train; cell ``bad`` has a tag no tagger knows."""
    train = labelled_sentences(load_split("train").iloc[:80])
    evaluation = {"test": labelled_sentences(load_split("valid").iloc[:12])}
    cells = []
    for i in range(count):
        sentences = train[i * 12 : i * 12 + 24]
        if i == bad:
            sentences = [sentences[0]._replace(tags=["B-DRUG"] * len(sentences[0].tokens)), *sentences[1:]]
        cells.append(Cell({"part": i, "seed": 1}, Student(protocol, (sentences,), derive_seed(1, i), evaluation)))
    return cells


def scores(table: pd.DataFrame) -> pd.DataFrame:
    return table[["part", "split", "entity_type", "precision", "recall", "f1", "token_accuracy", "loss"]]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return Grid(Sequential(threads_per_cell=1), progress_bar=False).table("test", make_cells())


def count_trained(monkeypatch) -> list[Cell]:
    """Cells trained in this process from now on (the sequential executor calls run_cell)."""
    trained: list[Cell] = []
    real = grid_module.run_cell
    monkeypatch.setattr(grid_module, "run_cell", lambda cell: trained.append(cell) or real(cell))
    return trained


def test_processes_give_the_sequential_scores(reference):
    table = Grid(Processes(workers=2, threads_per_cell=1), progress_bar=False).table("test", make_cells())
    assert list(table.columns) == list(reference.columns)
    pd.testing.assert_frame_equal(scores(table), scores(reference), rtol=1e-6)


def test_ray_gives_the_sequential_scores(reference):
    ray = pytest.importorskip("ray")
    try:
        table = Grid(grid_module.Ray(cpus_per_cell=1, num_cpus=2), progress_bar=False).table("test", make_cells())
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(scores(table), scores(reference), rtol=1e-6)


def test_a_failing_cell_fails_the_grid_with_its_ids_and_the_rerun_trains_only_the_missing(
    tmp_path, monkeypatch, reference
):
    store = ResultStore(tmp_path)
    grid = Grid(Sequential(threads_per_cell=1), store, progress_bar=False)
    with pytest.raises(GridCellError, match=r"grid test: cell part=2 seed=1 failed: ValueError: .*B-DRUG"):
        grid.run("test", make_cells(bad=2))
    assert len(list((tmp_path / "test").glob("*.pkl"))) == 2  # the two before it were kept
    trained = count_trained(monkeypatch)
    table = grid.table("test", make_cells())
    assert [cell.ids["part"] for cell in trained] == [2, 3]
    pd.testing.assert_frame_equal(table, reference)


def test_a_killed_grid_resumes_with_the_same_table(tmp_path, monkeypatch, reference):
    """A separate process runs the grid and is killed (SIGKILL) once a cell is stored."""
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        torch.set_num_threads(1)
        from test_grid import make_cells
        from llm_ner.grid import Grid, ResultStore, Sequential
        Grid(Sequential(), ResultStore({str(tmp_path)!r}), progress_bar=False).run("test", make_cells())
    """)
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 240
    while not list(tmp_path.glob("test/*.pkl")) and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stored = len(list(tmp_path.glob("test/*.pkl")))
    assert 1 <= stored < 4, "the process must be killed mid-grid"
    trained = count_trained(monkeypatch)
    table = Grid(Sequential(threads_per_cell=1), ResultStore(tmp_path), progress_bar=False).table("test", make_cells())
    assert len(trained) == 4 - stored
    pd.testing.assert_frame_equal(table, reference)


def test_a_changed_parameter_misses_the_store(tmp_path, monkeypatch):
    grid = Grid(Sequential(threads_per_cell=1), ResultStore(tmp_path), progress_bar=False)
    grid.run("test", make_cells(count=2))
    trained = count_trained(monkeypatch)
    grid.run("test", make_cells(count=2))
    assert trained == []  # all stored
    changed = dataclasses.replace(PROTOCOL, trainer=dataclasses.replace(PROTOCOL.trainer, learning_rate=2e-2))
    grid.run("test", make_cells(changed, count=2))
    assert len(trained) == 2
    assert fingerprint(make_cells(changed, 1)[0].job) != fingerprint(make_cells(count=1)[0].job)


def test_a_corrupt_stored_result_is_recomputed(tmp_path, monkeypatch, caplog):
    grid = Grid(Sequential(threads_per_cell=1), ResultStore(tmp_path), progress_bar=False)
    first = grid.table("test", make_cells(count=2))
    damaged, truncated = sorted(tmp_path.glob("test/*.pkl"))
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")  # same length, other payload
    truncated.write_bytes(truncated.read_bytes()[:100])
    trained = count_trained(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="llm_ner.grid"):
        again = grid.table("test", make_cells(count=2))
    assert len(trained) == 2
    assert caplog.text.count("unreadable") == 2
    pd.testing.assert_frame_equal(again, first)


def test_fingerprints_follow_content_not_identity():
    one, other = make_cells(count=1)[0], make_cells(count=1)[0]
    assert one.job is not other.job and fingerprint(one.job) == fingerprint(other.job)
    reseeded = dataclasses.replace(one.job, seed=one.job.seed + 1)
    assert fingerprint(reseeded) != fingerprint(one.job)
    with pytest.raises(TypeError, match="cannot hold a function"):
        fingerprint(lambda: None)


def test_executors_are_chosen_by_name_and_checked():
    grid = Grid.from_params(
        {"executor": "processes", "store": None, "processes": {"workers": 3, "threads_per_cell": 1}}
    )
    assert grid.executor == Processes(workers=3, threads_per_cell=1) and grid.store is None
    with pytest.raises(
        ValueError, match=r"grid.executor: Input should be 'sequential', 'processes' or 'ray', got 'dask'"
    ):
        Grid.from_params({"executor": "dask"})
    with pytest.raises(ValueError, match=r"grid.processes.gpus: unknown parameter"):
        Grid.from_params({"executor": "processes", "processes": {"gpus": 2}})
    with pytest.raises(ValueError, match=r"grid.processes.workers: Input should be greater than 0, got 0"):
        Grid.from_params({"processes": {"workers": 0}})


def test_ray_without_the_extra_fails_at_once_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[ray\]'"):
        Grid.from_params({"executor": "ray"})


def test_summarise_gives_mean_std_and_the_number_of_repeats():
    runs = pd.DataFrame(
        {
            "strategy": ["a", "a", "a", "b"],
            "fold": [0, 1, 2, 0],
            "f1": [0.5, 0.6, 0.7, 0.4],
            "expert_sentences": [10, 10, 10, 5],
        }
    )
    table = summarise(runs, ["strategy"], "fold", ["f1", "missing"], constants={"expert_sentences": "mean"}).set_index(
        "strategy"
    )
    assert table.loc["a", "f1_mean"] == pytest.approx(0.6) and table.loc["a", "f1_std"] == pytest.approx(0.1)
    assert table.loc["b", "f1_std"] == 0.0 and list(table["folds"]) == [3, 1]
    assert list(table["expert_sentences"]) == [10, 5] and "missing_mean" not in table


def test_derived_seeds_are_stable_and_independent():
    assert derive_seed(11, "fold", 0) == derive_seed(11, "fold", 0)
    seeds = {derive_seed(11, "fold", i) for i in range(100)} | {derive_seed(12, "fold", i) for i in range(100)}
    assert len(seeds) == 200 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(11, "epoch", 0) != derive_seed(11, "fold", 0)
    with pytest.raises(ValueError, match=">= 0"):
        derive_seed(-1)
    assert np.random.default_rng(derive_seed(1, 2)).integers(10) == np.random.default_rng(derive_seed(1, 2)).integers(
        10
    )


def test_a_student_trained_on_its_own_is_stored_and_read_back(tmp_path, monkeypatch):
    """model_init, model_llm_pure, model_gold and model_llm: a rerun reads the tagger back, with the
    same weights and history, instead of training it again; with a selection set it scores every
    epoch on it (early stopping)."""
    from llm_ner.model import predict_tags
    from llm_ner.students import train_student

    grid = Grid(Processes(workers=2), ResultStore(tmp_path), progress_bar=False)  # one student runs in-process
    student = make_cells(count=1)[0].job
    trained = count_trained(monkeypatch)
    first, history = train_student(student, grid, "model_init")
    again, history_again = train_student(student, grid, "model_init")
    assert len(trained) == 1 and list(history["epoch"]) == [1, 2]
    pd.testing.assert_frame_equal(history, history_again)
    words = [list(s.tokens) for s in student.evaluation_sets["test"]]
    assert predict_tags(first, words) == predict_tags(again, words)
    patience = dataclasses.replace(PROTOCOL.trainer, epochs=6, early_stopping_patience=1)
    selecting = dataclasses.replace(student, protocol=dataclasses.replace(PROTOCOL, trainer=patience))
    _, selected = train_student(selecting, grid, "model_gold", selection=student.evaluation_sets["test"])
    assert "validation_f1" in selected and len(trained) == 2
