"""Every parameter group is typed settings (llm_ner.parameters): each environment's parameters are
valid, a key no settings model reads is an error naming its path, and a bad value stops `kedro run`
at once with one line."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_ner.parameters import GROUPS, check_parameters
from llm_ner.pipeline_registry import register_pipelines
from llm_ner.settings import project_parameters
from llm_ner.typed import ParameterError

ENVIRONMENTS = ("base", "test", "study", "gpu")


@pytest.fixture(scope="module")
def base():
    return project_parameters("base")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_is_valid_and_every_group_has_a_settings_model(env):
    parameters = project_parameters(env)
    assert set(parameters) <= set(GROUPS), sorted(set(parameters) - set(GROUPS))
    typed = check_parameters(parameters)
    assert set(typed) == set(parameters)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("training.evaluation.seeed", 1, "training.evaluation.seeed: unknown parameter"),
        ("student.trainer.epoch", 3, "student.trainer.epoch: unknown parameter"),
        ("mixed_annotation.regimens.extra.sharee", 0.3, "mixed_annotation.regimens.extra.sharee: unknown parameter"),
        ("active_learning.loop.max_iteration", 2, "active_learning.loop.max_iteration: unknown parameter"),
        ("llm_annotation.batch.waitt", True, "llm_annotation.batch.waitt: unknown parameter"),
        ("llm_topics.agreement.temperatur", 0.5, "llm_topics.agreement.temperatur: unknown parameter"),
        ("cost_model.expert.usd_per_hours", 40, "cost_model.expert.usd_per_hours: unknown parameter"),
        ("grid.ray.gpus", 1, "grid.ray.gpus: unknown parameter"),
        (
            "student.trainer.optimizer",
            "adam",
            "student.trainer.optimizer: Input should be 'adamw' or 'sgd', got 'adam'",
        ),
        (
            "mixed_annotation.init.strategy",
            "cheapest",
            "mixed_annotation.init.strategy: must be one of ['label_issues', "
            "'llm_low_confidence', 'random'], got 'cheapest'",
        ),
        ("active_learning.strategies", ["entropy"], "active_learning.strategies.0: must be one of"),
        (
            "training.model_selection.llm",
            "best",
            "training.model_selection.llm: Input should be 'gold_validation', "
            "'llm_validation' or 'fixed_epochs', got 'best'",
        ),
        ("reporting.target_shares", [1.5], "reporting.target_shares.0: Input should be less than or equal to 1"),
    ],
)
def test_a_key_no_setting_reads_or_a_bad_value_names_its_full_path(base, path, value, message):
    parameters = copy.deepcopy(base)
    *parents, key = path.split(".")
    node = parameters
    for parent in parents:
        node = node[parent]
    node[key] = value
    with pytest.raises(ParameterError) as error:
        check_parameters(parameters)
    assert message in str(error.value)


def test_an_unknown_group_is_named_with_the_known_ones(base):
    with pytest.raises(ParameterError, match=r"trainig: unknown parameter group; the groups are \['active_learning'"):
        check_parameters({**base, "trainig": {"epochs": 3}})


def test_the_nodes_read_typed_settings_validated_by_kedro_before_the_run():
    """Kedro instantiates a node's annotated params: input before any node runs (kedro.validation)."""
    from kedro.framework.project import configure_project
    from kedro.validation.type_extractor import TypeExtractor

    configure_project("llm_ner")
    required = TypeExtractor(register_pipelines()).extract_types_from_pipelines()
    for group in (
        "student",
        "grid",
        "entity_types",
        "corpus",
        "training",
        "mixed_annotation",
        "label_studio",
        "active_learning",
        "multitask",
        "label_quality",
        "reporting",
    ):
        assert required[group] is GROUPS[group], group


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kedro_instantiates_every_typed_input_of_every_pipeline(env):
    """What `kedro run` and `kedro viz build` do first; a group typed whole and one of its keys typed
    too would fail here (Kedro cannot set a key inside an instantiated model)."""
    from kedro.framework.project import configure_project
    from kedro.validation.parameter_validator import ParameterValidator

    configure_project("llm_ner")
    validated = ParameterValidator(register_pipelines()).validate_raw_params(project_parameters(env))
    for group in (
        "student",
        "grid",
        "entity_types",
        "corpus",
        "training",
        "mixed_annotation",
        "label_studio",
        "active_learning",
        "multitask",
        "label_quality",
        "reporting",
    ):
        assert isinstance(validated[group], GROUPS[group]), group


@pytest.mark.slow
def test_a_bad_parameter_on_the_command_line_stops_kedro_run_at_once_with_one_line(project_copy):
    kedro = str(Path(sys.executable).parent / "kedro")
    started = time.monotonic()
    result = subprocess.run(
        [kedro, "run", "--env", "test", "--params", "student.trainer.optimizer=adam"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: ParameterError: student.trainer.optimizer: Input should be 'adamw' or 'sgd', got 'adam'"]
    assert "Traceback" not in result.stderr
    assert not list((project_copy / "data").rglob("*.parquet"))  # nothing ran
    assert time.monotonic() - started < 120
