"""Environments are merged key by key into base (settings.py: merge_strategy soft), so each states
only what differs: a value restated from base would silently win over a later change of base."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_ner.parameters import check_parameters
from llm_ner.settings import project_parameters

CONF = Path(__file__).resolve().parents[1] / "conf"
PIPELINES = CONF.parent / "src/llm_ner/pipelines"
MISSING = object()


def leaves(node, path=()):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    else:
        yield path, node


def lookup(node, path):
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


@pytest.mark.parametrize("env", ["test", "study", "gpu", "own_text"])
def test_an_environment_states_only_what_differs_from_base(env):
    base = project_parameters("base", str(CONF))
    restated = [
        f"{path.name}: {'.'.join(key)} = {value!r}"
        for path in sorted((CONF / env).glob("parameters*.yml"))
        for key, value in leaves(yaml.safe_load(path.read_text()) or {})
        if lookup(base, key) == value
    ]
    assert not restated, "restated from conf/base (delete them):\n" + "\n".join(restated)


def test_an_environment_changes_one_key_and_keeps_the_rest_of_base():
    base, test = project_parameters("base", str(CONF)), project_parameters("test", str(CONF))
    assert test["student"]["trainer"]["epochs"] == 2 != base["student"]["trainer"]["epochs"]
    assert test["student"]["trainer"]["optimizer"] == base["student"]["trainer"]["optimizer"]  # not restated in test
    assert test["llm_prompts"] == base["llm_prompts"]
    assert test["mixed_annotation"]["blending"]["schedules"]["pure_llm"] is None  # dropped from the test grid


def test_an_environment_s_entity_types_replace_base_s_whole(tmp_path):
    for env, text in (
        ("base", "entity_types: {PER: {title: Person}, ORG: {title: Organization}}\nsizes: {a: 1, b: 2}\n"),
        ("meds", "entity_types: {DRUG: {title: Drug}}\nsizes: {b: 3}\n"),
    ):
        (tmp_path / env).mkdir()
        (tmp_path / env / "parameters.yml").write_text(text)
    parameters = project_parameters("meds", str(tmp_path))
    assert parameters["entity_types"] == {"DRUG": {"title": "Drug"}}  # its label set, not CoNLL's plus one
    assert parameters["sizes"] == {"a": 1, "b": 3}


@pytest.mark.parametrize("run_config", sorted(CONF.glob("*/run_*.yml")), ids=lambda path: path.name)
def test_a_run_config_names_registered_pipelines_and_valid_parameters(run_config):
    """`kedro run --config <file>` would stop at its first step on a typo; this finds it without the run."""
    run = yaml.safe_load(run_config.read_text())["run"]
    registered = {"__default__", *(path.name for path in PIPELINES.iterdir() if (path / "pipeline.py").exists())}
    assert set(run["pipelines"].split(",")) <= registered
    check_parameters(project_parameters(run["env"], str(CONF), runtime_params=run["params"]))
