"""Experiment tracking: nested MLflow runs from the runs tables, the report as an artifact, and
kedro-mlflow's run around a real `kedro run` when an environment turns tracking on."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from llm_ner.tracking import NestedRuns


@pytest.fixture
def tracking(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("t", artifact_location=str(tmp_path / "artifacts"))
    yield experiment
    mlflow.set_tracking_uri(None)


def test_every_trained_model_becomes_a_nested_run_and_the_report_an_artifact(tracking):
    runs = pd.DataFrame(
        [
            {
                "design": d,
                "lr_schedule": "constant",
                "seed": s,
                "gold_sentences": 20,
                "llm_sentences": 60,
                "split": split,
                "entity_type": "micro",
                "precision": 0.5,
                "recall": 0.4,
                "f1": f1,
                "support": 9,
                "token_accuracy": 0.9,
                "loss": 0.3,
            }
            for d, f1 in (("A_gold", 0.6), ("B_llm", 0.3))
            for s in (1, 2)
            for split in ("validation", "test")
        ]
    )
    hooks = NestedRuns()
    hooks.after_node_run(node=None, outputs={"regimen_runs": runs})  # no active run: tracking off, nothing logged
    assert mlflow.search_runs(experiment_ids=[tracking]).empty
    with mlflow.start_run(experiment_id=tracking) as parent:
        hooks.after_node_run(node=None, outputs={"regimen_runs": runs, "something_else": runs})
        hooks.after_dataset_saved(dataset_name="report", data="<html>report</html>")
    children = mlflow.search_runs(
        experiment_ids=[tracking], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 4  # 2 designs x 2 seeds
    b_llm = children[children["params.design"] == "B_llm"]
    assert set(b_llm["params.seed"]) == {"1", "2"} and (b_llm["metrics.test.micro.f1"] == 0.3).all()
    assert (children["metrics.validation.micro.recall"] == 0.4).all()
    assert mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/report/report.html") == "<html>report</html>"


def test_typed_settings_are_logged_as_kedro_mlflow_logs_one_of_their_keys(tracking):
    """A node reading a whole typed group and one reading one of its keys log the same value:
    MLflow refuses a parameter logged twice with different values (a conf/base run hit this)."""
    from llm_ner.parameters import LabelStudioParams
    from llm_ner.settings import project_parameters

    settings = LabelStudioParams.model_validate(project_parameters("base")["label_studio"])
    with mlflow.start_run(experiment_id=tracking) as run:
        NestedRuns().before_node_run(None, {"params:label_studio": settings})
        mlflow.log_param("label_studio.seeds", str(settings.seeds))  # what kedro-mlflow logs for that key
        NestedRuns().before_node_run(None, {"params:label_studio": settings})  # a second node: same values
    params = mlflow.get_run(run.info.run_id).data.params
    assert params["label_studio.seeds"] == "(1, 2, 3)" and params["label_studio.selection.budget"] == "0.1"


def test_a_key_mlflow_refuses_in_a_name_is_logged_with_underscores(tracking):
    """A user's key may hold any character (label_quality.marks names labellers); MLflow refuses
    parentheses in a parameter name, which stopped a conf/study run before its first node."""
    from llm_ner.label_quality import LabelQualityParams

    settings = LabelQualityParams(marks={"GPT-4 (Huang)": 0.65})
    with mlflow.start_run(experiment_id=tracking) as run:
        NestedRuns().before_node_run(None, {"params:label_quality": settings})
    assert mlflow.get_run(run.info.run_id).data.params["label_quality.marks.GPT-4 _Huang_"] == "0.65"


@pytest.mark.slow
def test_kedro_run_with_tracking_on_logs_the_run_and_its_report(project_copy):
    shutil.copy(project_copy / "conf/base/mlflow.yml", project_copy / "conf/test/mlflow.yml")  # tracking on
    (project_copy / "data/09_tracking").mkdir()
    kedro = str(Path(sys.executable).parent / "kedro")
    result = subprocess.run(
        [kedro, "run", "--pipeline", "reporting", "--env", "test"],
        cwd=project_copy,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{project_copy / 'data/09_tracking/mlflow.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=["llm_ner"])
        assert runs["tags.mlflow.runName"].tolist() == ["reporting"]
        assert runs["params.reporting.target_shares"].iloc[0] == "(0.9, 0.95)"  # flattened typed node parameters
        assert "not run" in mlflow.artifacts.load_text(f"runs:/{runs.run_id.iloc[0]}/report/report.html")
    finally:
        mlflow.set_tracking_uri(None)


def test_conf_test_turns_tracking_off_for_every_registered_pipeline():
    from kedro.config import OmegaConfigLoader

    from llm_ner.pipeline_registry import STUDY

    loader = OmegaConfigLoader("conf", base_env="base", default_run_env="test", config_patterns={"mlflow": ["mlflow*"]})
    disabled = loader["mlflow"]["tracking"]["disable_tracking"]
    registered = {
        path.name
        for path in (Path(__file__).parents[1] / "src/llm_ner/pipelines").iterdir()
        if (path / "pipeline.py").is_file()
    }
    assert registered >= set(STUDY) and set(disabled["pipelines"]) == registered | {"__default__"}
