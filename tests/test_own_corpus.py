"""End to end on a corpus of our own types: `kedro run --env meds` -- data_analysis, llm_annotation
(the fake OpenAI server answering in DRUG/DOSE/FREQUENCY), training, mixed_annotation,
active_learning and reporting -- with per-type scores for the new types everywhere."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from own_corpus import ENTITY_TYPES, medication_responder, write_environment
from test_project import kedro, report_sections

TYPES = list(ENTITY_TYPES)


def newest(project, pattern):
    return max(project.glob(pattern))


@pytest.mark.slow
def test_the_whole_study_runs_on_a_corpus_of_your_own_entity_types(project_copy):
    from fake_openai_server import FakeOpenAIServer

    write_environment(project_copy, "meds")
    with FakeOpenAIServer(medication_responder) as server:
        kedro(project_copy, "run", "--env", "meds", "--params", f"llm_models.fake-llm.base_url={server.base_url}")
        assert server.requests
        prompt = server.requests[0]["user"]
    assert "DRUG (drug), DOSE (dose) or FREQUENCY (frequency)" in prompt and "PER" not in prompt

    entities = pd.read_csv(project_copy / "data/08_reporting/data_analysis/entities_per_type.csv")
    assert list(entities["entity_type"].unique()) == TYPES and (entities["count"] > 0).all()

    quality = pd.read_csv(newest(project_copy, "data/08_reporting/markup_quality.csv/*/*"))
    assert {f"{t}_f1" for t in TYPES} <= set(quality.columns) and "PER_f1" not in quality.columns
    assert quality["f1"].between(0.3, 0.99).all()  # imperfect labels, in our types
    labels = pd.read_parquet(newest(project_copy, "data/05_model_input/llm_labels.parquet/*/*"))
    routes = labels[labels["tokens"].map(lambda t: "mouth" in list(t) or "meals" in list(t) or "water" in list(t))]
    assert (
        len(routes)
        and (routes["status"] == "repaired").all()
        and routes["failure_reason"].str.contains("unknown_type").all()
    )
    assert {tag[2:] for tags in labels["llm_tags"] for tag in tags if tag != "O"} <= set(TYPES)

    comparison = pd.read_csv(project_copy / "data/08_reporting/training/student_comparison.csv")
    f1 = comparison[(comparison["metric"] == "f1") & (comparison["split"] == "test")].set_index("entity_type")
    assert set(TYPES) <= set(f1.index) and not {"PER", "MISC"} & set(f1.index)
    assert f1.loc[TYPES, ["gold", "llm"]].notna().all().all()
    saved = newest(project_copy, "data/06_models/model_gold/*/*/labels.json")
    assert json.loads(saved.read_text()) == ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
    budget = pd.read_csv(newest(project_copy, "data/08_reporting/mixed_annotation/add/budget_table.csv/*/*"))
    assert set(TYPES) <= set(budget["entity_type"])
    history = pd.read_csv(newest(project_copy, "data/08_reporting/active_learning/history.csv/*/*"))
    assert history["test_f1"].between(0, 1).all()

    report, sections = report_sections(project_copy)
    html = report.read_text()
    assert sections["markup"] == "ok" and sections["students"] == "ok"
    assert "DRUG_f1" in html and "FREQUENCY_f1" in html and "tagging DRUG, DOSE, FREQUENCY" in html
