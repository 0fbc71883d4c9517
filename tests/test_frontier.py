"""The frontier's one command (conf/study/run_seed_frontier.yml) trains every route it compares under
the one protocol: the same ``student`` settings reach every grid, and nothing in the run's
parameters changes how a route's students are trained -- so a later edit cannot mix protocols."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.project import configure_project, find_pipelines

from llm_ner.parameters import check_parameters
from llm_ner.settings import project_parameters

CONF = Path(__file__).resolve().parents[1] / "conf"
FRONTIER = CONF / "study/run_seed_frontier.yml"
OWN_DESIGN = {"multitask"}  # pipelines whose students have their own trainer (seed S2), not the protocol


def frontier_run() -> dict[str, Any]:
    return yaml.safe_load(FRONTIER.read_text())["run"]


def frontier_parameters() -> dict[str, Any]:
    """What `kedro run --config conf/study/run_seed_frontier.yml` runs with."""
    run = frontier_run()
    return project_parameters(run["env"], str(CONF), runtime_params=run["params"])


def protocol_breaks(parameters: dict[str, Any], pipelines: list[str]) -> list[str]:
    """Every way these parameters would train some route of the frontier off the one protocol."""
    schedule = parameters["student"]["trainer"]["schedule"]
    mixed, training, active = (parameters[k] for k in ("mixed_annotation", "training", "active_learning"))
    breaks = [f"pipeline {name} trains under its own design" for name in pipelines if name in OWN_DESIGN]
    for phase in ("regimens", "blending"):
        if list(mixed[phase]["lr_schedules"]) != [schedule]:
            breaks.append(f"mixed_annotation.{phase}.lr_schedules {mixed[phase]['lr_schedules']} != [{schedule}]")
    if mixed["start"] != "from_scratch":  # continuing model_llm_pure trains its epochs twice
        breaks.append(f"mixed_annotation.start is {mixed['start']}")
    for student, method in training["model_selection"].items():
        if method != "fixed_epochs":  # an epoch chosen on held-out gold: not the protocol's fixed epochs
            breaks.append(f"training.model_selection.{student} is {method}")
    if active["loop"]["use_initial_training"]:  # trains the start model for initial_epochs first
        breaks.append("active_learning.loop.use_initial_training is true")
    if active["loop"]["improvement_threshold"] is not None:  # stops on validation gold
        breaks.append("active_learning.loop.improvement_threshold is set")
    return breaks


def test_the_frontier_command_runs_its_routes_under_the_one_protocol():
    run, parameters = frontier_run(), frontier_parameters()
    check_parameters(parameters)
    assert protocol_breaks(parameters, run["pipelines"].split(",")) == []
    # the routes the frontier table compares are all in the one command
    assert {"training", "mixed_annotation", "active_learning", "reporting"} <= set(run["pipelines"].split(","))
    assert parameters["mixed_annotation"]["k"] == 5 and 2000 in parameters["training"]["learning_curve"]["sizes"]
    assert set(parameters["mixed_annotation"]["sweeps"]["correct"]["strategies"]) == {"random", "label_issues"}
    assert {"random", "mean_token_entropy", "bald"} <= set(parameters["active_learning"]["strategies"])
    assert len(parameters["active_learning"]["seeds"]) >= 3


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p["mixed_annotation"]["regimens"].update(lr_schedules=["constant"]), "regimens.lr_schedules"),
        (lambda p: p["mixed_annotation"]["blending"].update(lr_schedules=["linear_warmup", "epoch_decay"]), "blending"),
        (lambda p: p["mixed_annotation"].update(start="fine_tune_llm_pure"), "mixed_annotation.start"),
        (lambda p: p["training"]["model_selection"].update(llm="llm_validation"), "model_selection.llm"),
        (lambda p: p["active_learning"]["loop"].update(use_initial_training=True), "use_initial_training"),
        (lambda p: p["active_learning"]["loop"].update(improvement_threshold=5e-5), "improvement_threshold"),
    ],
)
def test_an_edit_that_mixes_protocols_is_caught(edit, expected):
    parameters = copy.deepcopy(frontier_parameters())
    edit(parameters)
    assert any(expected in line for line in protocol_breaks(parameters, ["training"]))


def test_a_pipeline_with_its_own_trainer_is_caught():
    assert protocol_breaks(frontier_parameters(), ["training", "multitask"]) == [
        "pipeline multitask trains under its own design"
    ]


def test_every_stage_of_the_frontier_builds_its_students_from_params_student():
    """The one ``student`` block reaches every grid: each stage's student setup (what its grids run
    under) is built from ``params:student``, and no node reads a piece of it or another trainer."""
    configure_project("llm_ner")
    pipelines = find_pipelines()
    for name in frontier_run()["pipelines"].split(","):
        if name == "reporting":  # trains nothing; it shows every stage's parameters
            continue
        for node in pipelines[name].nodes:
            trainers = [i for i in node.inputs if i.startswith("params:student.") or i == "params:multitask"]
            assert not trainers, f"{name}: node {node.name} reads {trainers}"
            if any(output.endswith("student_setup") for output in node.outputs):
                assert "params:student" in node.inputs, f"{name}: {node.name} builds a setup without params:student"
            students = [i for i in node.inputs if i.endswith("student_setup")]
            assert all(s == f"{name}.{name}_student_setup" or s == f"{name}_student_setup" for s in students), (
                f"{name}: node {node.name} trains with another stage's setup {students}"
            )
