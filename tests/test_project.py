"""End to end: the real `kedro` CLI on a copy of the project, the notebook, and kedro-viz."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from report_browser import looks_blank, screenshot

from llm_ner.pipelines.reporting.pipeline import SECTIONS

KEDRO = str(Path(sys.executable).parent / "kedro")


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    result = subprocess.run([KEDRO, *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def report_sections(project: Path) -> tuple[Path, dict[str, str]]:
    """The newest report and each section's status (ok | not run), by the section's anchor."""
    report = sorted((project / "data/08_reporting/report/report.html").glob("*/report.html"))[-1]
    html = report.read_text()
    return report, dict(re.findall(r'<section id="([\w-]+)" class="[^"]*" data-status="([^"]+)"', html))


def summary(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "data/08_reporting/data_analysis/corpus_summary.csv").set_index("split")


@pytest.mark.slow
def test_data_analysis_runs_with_test_env_params_and_notebook(project_copy):
    kedro(project_copy, "run", "--pipeline", "data_analysis", "--env", "test")
    assert summary(project_copy)["sentences"].tolist() == [300, 300, 300]  # conf/test trims the splits
    for name in ("pos_tags", "chunk_tags", "ner_tags", "entities_per_type", "sentence_lengths", "entity_lengths"):
        assert (project_copy / f"data/08_reporting/data_analysis/plots/{name}.png").stat().st_size > 1000

    kedro(
        project_copy,
        "run",
        "--pipeline",
        "data_analysis",
        "--env",
        "test",
        "--params",
        "corpus.max_sentences_per_split=40",
    )
    assert summary(project_copy)["sentences"].tolist() == [40, 40, 40]

    notebook = nbformat.read(project_copy / "notebooks/data_analysis.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(project_copy / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<td>40</td>" in html  # the notebook saw the latest run's summary through catalog.load


def test_kedro_viz_build_shows_the_six_stages_as_groups(project_copy):
    kedro(project_copy, "viz", "build")
    main = json.loads((project_copy / "build/api/main").read_text())
    names = {node["name"] for node in main["nodes"]}
    assert {"prepare_train_sentences", "summarise_splits", "corpus_summary", "train_raw"} <= names
    assert "data_analysis" in {p["id"] for p in main["pipelines"]}
    stages = set(main["modular_pipelines"]) - {"__root__"}
    assert {"data_analysis", "llm_annotation", "training", "mixed_annotation", "active_learning", "reporting"} <= stages
    assert {"mixed_annotation.add", "mixed_annotation.correct"} <= stages  # the sweeps, nested in their stage
    root = main["modular_pipelines"]["__root__"]["children"]
    assert {child["id"] for child in root if child["type"] == "modularPipeline"} >= {"data_analysis", "reporting"}


@pytest.mark.slow
def test_the_whole_study_runs_end_to_end_on_conf_test(project_copy):
    """`kedro run --env test --pipelines __default__,multitask,label_quality`: data_analysis ->
    llm_annotation (against a local OpenAI-compatible server) -> training -> mixed_annotation ->
    active_learning, multitask, label_quality -> reporting, every stage for real, only smaller; then
    the notebooks and the report."""
    from fake_openai_server import FakeOpenAIServer, capitalised_words_responder

    with FakeOpenAIServer(capitalised_words_responder) as server:
        kedro(
            project_copy,
            "run",
            "--env",
            "test",
            "--pipelines",
            "__default__,multitask,label_quality",
            "--params",
            f"llm_models.fake-llm.base_url={server.base_url}",
        )
        assert server.requests  # the LLM stage really called the server

    labels_versions = sorted((project_copy / "data/05_model_input/llm_labels.parquet").glob("*/*"))
    labels = pd.read_parquet(labels_versions[-1])
    assert len(labels) > 0 and labels["sentence_id"].is_unique

    comparison = pd.read_csv(project_copy / "data/08_reporting/training/student_comparison.csv")
    f1 = comparison[(comparison["metric"] == "f1") & (comparison["entity_type"] == "micro")]
    assert set(f1["split"]) == {"validation", "test"}
    assert (
        f1[["gold", "llm"]].notna().all().all()
        and ((f1[["gold", "llm"]] >= 0) & (f1[["gold", "llm"]] <= 1)).all().all()
    )
    for mode in ("add", "correct"):  # mixed_annotation: both budget sweeps, and where active learning starts
        table = pd.read_csv(
            next((project_copy / f"data/08_reporting/mixed_annotation/{mode}/budget_table.csv").glob("*/*"))
        )
        assert (
            table["f1_mean"].between(0, 1).all() and (table["total_gold_sentences"] >= table["expert_sentences"]).all()
        )
    assert list((project_copy / "data/06_models/model_init").glob("*/*/model.safetensors"))
    # active_learning: every strategy from model_init, checkpoints by name, and the notebook that reads them
    history = pd.read_csv(next((project_copy / "data/08_reporting/active_learning/history.csv").glob("*/*")))
    assert (
        set(history["strategy"]) == {"mean_token_entropy", "bald", "random"} and history["test_f1"].between(0, 1).all()
    )
    assert list(
        (project_copy / "data/06_models/active_learning").glob("*/*/bald/active_iter_2_added_8/model.safetensors")
    )
    notebook = nbformat.read(project_copy / "notebooks/expert_budget_and_active_learning.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(project_copy / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert "active_iter_2_added_8" in "".join(o.get("text", "") for o in outputs)  # a checkpoint tagged a sentence
    for model in ("model_gold", "model_llm"):
        saved = list((project_copy / "data/06_models" / model).glob("*/*/model.safetensors"))
        assert len(saved) == 1, f"{model} was not saved as one versioned folder"

    # gold-label accounting: model_gold trained on the pool's gold tags (less the llm_validation
    # hold-out) and selected on gold; model_llm is charged its labeller's gold, never its own training
    usage = pd.read_csv(project_copy / "data/08_reporting/training/gold_label_usage.csv")
    assert {"model_gold", "model_llm"} <= set(usage["consumer"])
    llm_training = usage[(usage["consumer"] == "model_llm") & (usage["purpose"] == "training")]
    assert llm_training["sentences"].tolist() == [0]
    charged = pd.read_csv(project_copy / "data/08_reporting/training/student_gold_labels.csv").set_index("consumer")
    assert charged.loc["model_gold", "training_sentences"] == len(labels) - max(1, round(0.2 * len(labels)))
    assert charged.loc["model_gold", "model_selection_sentences"] == 30  # conf/test selection_sentences
    # model_llm selects on LLM tags; its only gold for selection is the labeller's quality sample (4)
    assert charged.loc["model_llm", "model_selection_sentences"] == 4
    gold_rows = comparison[comparison["split"] == "gold_labels"].set_index("metric")
    assert gold_rows.loc["charged_sentences", "gold"] == charged.loc["model_gold", "charged_sentences"]

    # the notebooks of each stage, on this run's outputs through the catalog
    for name in ("llm_labels_vs_gold", "students"):
        notebook = nbformat.read(project_copy / f"notebooks/{name}.ipynb", as_version=4)
        NotebookClient(
            notebook, timeout=300, resources={"metadata": {"path": str(project_copy / "notebooks")}}
        ).execute()
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], name
    assert "('Merkel'" in str(outputs) or "'Angela'" in str(outputs)  # model_gold tagged the typed sentence

    # label_quality: the real level and conf/test's one simulated level, every route, and the crossover
    levels = pd.read_csv(project_copy / "data/08_reporting/label_quality/levels.csv")
    assert levels["level"].tolist() == ["real", "0.70"]
    label_map = pd.read_csv(next((project_copy / "data/08_reporting/label_quality/map.csv").glob("*/*")))
    assert {
        "llm_only",
        "regimen_D",
        "blending_sigmoid_k4",
        "correct_random",
        "correct_label_issues",
        "all_expert",
    } == set(label_map["route"]) and (label_map["repeats"] == 2).all()
    assert label_map["f1_mean"].between(0, 1).all()
    assert len(pd.read_csv(next((project_copy / "data/08_reporting/label_quality/crossover.csv").glob("*/*")))) == 2

    # reporting: every section rendered from this run, a summary in numbers, and a page that shows
    report, sections = report_sections(project_copy)
    assert len(sections) == len(SECTIONS) and set(sections.values()) == {"ok"}, sections
    html = report.read_text()
    assert "of the gold-only F1" in html and "not run" not in html.split('id="corpus"')[0]
    costs = pd.read_csv(next((project_copy / "data/08_reporting/costs/labelled_set_costs.csv").glob("*/*")))
    assert {"all-expert", "LLM-only"} <= set(costs["route"]) and costs["on_frontier"].any()
    assert any(route.startswith("active learning") for route in costs["route"])
    assert (costs["total_usd"] > 0).all()  # every route charges some gold (demonstrations at least)
    assert not looks_blank(screenshot(report, project_copy / "report.png"))
    assert "trains under one protocol" in html

    # the grid store: every finished student is kept, so rerunning a grid node trains none of them
    curve = (project_copy / "data/08_reporting/training/learning_curve_runs.csv").read_text()
    assert (
        len(list((project_copy / "data/07_model_output/grid_cells/learning_curve").glob("*.pkl"))) == 6
    )  # 2 sizes x 3 seeds
    rerun = kedro(
        project_copy, "run", "--env", "test", "--nodes", "training.define_student_setup,training.run_learning_curve"
    )
    assert "6 of 6 cells already stored, training 0" in rerun.stdout + rerun.stderr
    assert (project_copy / "data/08_reporting/training/learning_curve_runs.csv").read_text() == curve

    # serving: model_gold registered as an MLflow model; the inference pipeline tags a folder with it,
    # from its saved folder or from the registry, and both give the same spans at their characters
    served = json.loads((project_copy / "data/06_models/served_model.json").read_text())
    assert served["registered_uri"] == "models:/llm-ner-tagger/1"
    documents = project_copy / "my_documents"
    documents.mkdir()
    (documents / "memo.txt").write_text("Angela Merkel met Emmanuel Macron in Paris.\n\nEU rejects German call.")
    (documents / "blank.txt").write_text("\n")
    outputs = {}
    for name, model in (("folder", "data/06_models/model_gold"), ("registry", served["registered_uri"])):
        outputs[name] = project_copy / f"tagged_{name}.jsonl"
        kedro(
            project_copy,
            "run",
            "--env",
            "test",
            "--pipeline",
            "inference",
            "--params",
            f"inference.model={model},inference.documents={documents},inference.output={outputs[name]}",
        )
    tagged = [json.loads(line) for line in outputs["folder"].read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in tagged] == [("blank", "empty"), ("memo", "ok")]
    assert all(r["text"][s["start"] : s["end"]] == s["text"] for r in tagged for s in r["spans"])
    assert outputs["registry"].read_text() == outputs["folder"].read_text()


def test_report_of_a_project_where_nothing_has_run_says_not_run(project_copy):
    """`kedro run --pipeline reporting` before any other pipeline: a page of "not run" sections, not a crash."""
    result = kedro(project_copy, "run", "--pipeline", "reporting", "--env", "test")
    report, sections = report_sections(project_copy)
    assert len(sections) == len(SECTIONS) and set(sections.values()) == {"not run"}, sections
    assert "No labelled set has been costed yet" in report.read_text()
    assert "report.html" in result.stdout + result.stderr  # the run says where the report is
    labellers = pd.read_csv(project_copy / "data/08_reporting/costs/labeller_costs.csv")
    assert labellers["labeller"].tolist() == ["expert", "crowd (5 workers)"]
    assert not looks_blank(screenshot(report, project_copy / "report.png", height=1200))
