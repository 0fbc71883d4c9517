"""The `mixed_annotation` pipeline on conf/test parameters (tiny random encoder), from an
`llm_labels` table built here: gold tags with LLM-like errors and an LLM confidence per sentence."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.validation import ParameterValidationError
from pipeline_catalog import KeptMemoryDataset, parameter_datasets, run_validated  # tests/ is on sys.path

from llm_ner.accounting import gold_usage, usage_table
from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerModelDataset
from llm_ner.model import Tagger
from llm_ner.model.evaluation import evaluation_samples_table
from llm_ner.pipelines.mixed_annotation import create_pipeline
from llm_ner.settings import project_parameters

CONF = Path(__file__).resolve().parents[2] / "conf"
OUTPUTS = [
    "mixed_annotation.add.budget_table",
    "mixed_annotation.correct.budget_table",
    "mixed_annotation.add.budget_curve",
    "mixed_annotation.correct.budget_curve",
    "reference_students",
    "model_init_budget",
    "model_init_training_set",
    "llm_label_quality",
    "regimen_table",
    "blending_table",
    "blending_weights",
    "expert_selection",
    "label_studio_tasks",
    "label_studio_config",
    "label_studio_export",
    "expert_labels",
    "expert_label_summary",
    "expert_label_runs",
    "expert_label_table",
    "mixing_pool",
]
EXPERT_STEP = [
    "mixed_annotation.define_student_setup",
    "mixed_annotation.collect_label_studio_export",
    "mixed_annotation.import_expert_labels",
    "mixed_annotation.correct_pool_with_expert_labels",
    "mixed_annotation.train_on_expert_labels",
    "mixed_annotation.summarise_expert_labels",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    conf = project_parameters("test", str(CONF))
    parameters = conf["mixed_annotation"]
    train, valid, test = (load_split(s).iloc[:300] for s in ("train", "valid", "test"))
    pool = train.iloc[:40]
    llm_labels = pd.DataFrame(
        {
            "sentence_id": pool["sentence_id"],
            "tokens": pool["tokens"],
            "gold_tags": pool["ner_tags"],
            "llm_tags": [[t.replace("ORG", "LOC") for t in tags] for tags in pool["ner_tags"]],
            "sentence_confidence": [(i % 7) / 7 for i in range(len(pool))],
        }
    )
    demonstrations = train.iloc[40:60]
    inputs = {
        "llm_labels": llm_labels,
        "train_sentences": train,
        "llm_demonstration_pool": demonstrations,
        "evaluation_samples": evaluation_samples_table(valid.iloc[:20], test.iloc[:20]),
        "llm_gold_usage": usage_table([gold_usage("llm_labeller", "demonstrations", "kNN pool", demonstrations)]),
    }
    datasets = {name: KeptMemoryDataset(value) for name, value in inputs.items()}
    parameters = {**parameters, "llm_weight": "confidence"}  # the LLM tags here carry a confidence
    datasets.update(parameter_datasets("params:mixed_annotation", parameters))
    datasets["params:student"] = MemoryDataset(conf["student"])
    datasets["params:entity_types"] = MemoryDataset(conf["entity_types"])
    datasets["params:grid"] = MemoryDataset({**conf["grid"], "store": None})
    datasets.update(parameter_datasets("params:label_studio", conf["label_studio"]))
    datasets["label_studio_credentials"] = MemoryDataset({"url": None, "api_key": None})
    folder = tmp_path_factory.mktemp("models")
    for name in ("model_init", "model_llm_pure"):
        datasets[name] = TaggerModelDataset(str(folder / name), version=None)
    catalog = DataCatalog(datasets=datasets)
    for name in OUTPUTS:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    run_validated(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in OUTPUTS}, catalog, parameters


def test_budget_tables_cover_every_budget_strategy_and_fold_and_count_the_gold(run):
    outputs, _, parameters = run
    for mode, strategies in (("add", ["random"]), ("correct", ["random", "label_issues"])):
        table = outputs[f"mixed_annotation.{mode}.budget_table"]
        micro = table[(table["entity_type"] == "micro") & (table["split"] == "test")]
        assert sorted(micro["strategy"].unique()) == sorted(strategies)
        assert sorted(micro["budget"].unique()) == parameters["budgets"]
        assert (micro["folds"] == parameters["k"]).all()
        # 20 % and 50 % of a 40-sentence pool, plus the labeller's 20 demonstrations
        assert sorted(micro["expert_sentences"].unique()) == [8, 20]
        assert (micro["total_gold_sentences"] == micro["expert_sentences"] + 20).all()
        assert micro["f1_mean"].between(0, 1).all()
        assert outputs[f"mixed_annotation.{mode}.budget_curve"].axes[0].get_lines()
    quality = outputs["llm_label_quality"]
    assert len(quality) == 40 and quality["label_quality"].between(0, 1).all()
    assert set(outputs["reference_students"]["student"]) == {"llm_only", "gold_only"}


def test_model_init_is_saved_with_the_set_it_trained_on(run):
    outputs, catalog, parameters = run
    choice = outputs["model_init_budget"]
    assert choice["budget"] in parameters["budgets"] and choice["mode"] == "add"
    training = outputs["model_init_training_set"]
    expected_gold = round(choice["budget"] * 40)
    assert training["source"].value_counts().to_dict() == {"llm": 40, "gold": expected_gold}
    # LLM tags weigh their LLM confidence (llm_weight: confidence); gold counts fully
    assert (training.loc[training["source"] == "gold", "weight"] == 1.0).all()
    assert sorted(training.loc[training["source"] == "llm", "weight"].unique()) == [i / 7 for i in range(7)]
    assert isinstance(catalog.load("model_init"), Tagger) and isinstance(catalog.load("model_llm_pure"), Tagger)


def test_blending_schedules_table_and_plot(run):
    outputs, _, parameters = run
    table = outputs["blending_table"]
    micro = table[(table["entity_type"] == "micro") & (table["split"] == "test")]
    assert sorted(micro["design"]) == sorted(["simple_mix", "power_n0.5"] * 2)  # x constant / epoch_decay
    assert set(micro["lr_schedule"]) == {"constant", "epoch_decay"} and (micro["seeds"] == 2).all()
    # every expert sentence is drawn in some epoch of both schedules; every pool sentence too
    assert (micro["gold_sentences"] == parameters["expert_set_size"]).all()
    assert (micro["llm_sentences"] == 40).all()
    assert micro["f1_mean"].between(0, 1).all()
    assert len(outputs["blending_weights"].axes[0].get_lines()) == 2


def test_regimens_table_counts_what_each_regimen_trained_on(run):
    outputs, _, parameters = run
    table = outputs["regimen_table"]
    micro = table[(table["entity_type"] == "micro") & (table["split"] == "test")].set_index("design")
    assert list(micro.index) == parameters["regimens"]["names"] and (micro["seeds"] == 2).all()
    gold, half = parameters["expert_set_size"], 20  # extra: a seeded half of the 40-sentence pool
    expected = {
        "A_gold": (0, gold),
        "B_llm": (half, 0),
        "C_llm_extra": (40, 0),
        "D_llm_then_gold": (half, gold),
        "E_llm_extra_then_gold": (40, gold),
    }
    assert {name: (row.llm_sentences, row.gold_sentences) for name, row in micro.iterrows()} == expected
    assert {"macro", "PER", "LOC"} <= set(table["entity_type"]) and micro["f1_std"].ge(0).all()


def test_the_expert_step_exports_the_chosen_sentences_with_the_llm_labels_and_trains_nothing_when_simulated(run):
    outputs, _, parameters = run
    selection, tasks = outputs["expert_selection"], outputs["label_studio_tasks"]
    assert len(selection) == 4  # label_studio.selection: 10 % of the 40-sentence pool
    assert list(selection["label_quality"]) == sorted(selection["label_quality"])  # label_issues: worst first
    assert [t["data"]["sentence_id"] for t in tasks] == list(selection["sentence_id"])
    first, row = tasks[0], selection.iloc[0]
    predicted = [(r["value"]["text"], r["value"]["labels"][0]) for r in first["predictions"][0]["result"]]
    words = first["data"]["text"].split(" ")
    assert words == list(row["tokens"])
    assert [label for _, label in predicted] == [t[2:] for t in row["llm_tags"] if t.startswith("B-")]
    assert '<Label value="LOC"' in outputs["label_studio_config"]
    # no server, no import_path: nothing came back, every sentence missing, no student trained
    assert outputs["label_studio_export"] == [] and outputs["expert_label_summary"]["sentences"]["missing"] == 4
    assert outputs["expert_label_runs"].empty and outputs["expert_label_table"].empty


def annotated_export(tasks, selection):
    """A Label Studio JSON export of the tasks: the first corrected to gold in 30 s, the second
    accepted as predicted, the third skipped, the fourth never opened (the recorded exports of
    tests/data/label_studio have this shape)."""
    from label_studio_scenario import regions_of

    export = []
    for i, (task, gold) in enumerate(zip(tasks, selection["gold_tags"])):
        annotations = []
        if i == 0:
            annotations = [
                {
                    "id": 1,
                    "result": regions_of(task, list(gold)),
                    "was_cancelled": False,
                    "lead_time": 30.0,
                    "created_at": "2026-12-02T10:00:00Z",
                }
            ]
        elif i == 1:
            annotations = [
                {
                    "id": 2,
                    "result": task["predictions"][0]["result"],
                    "was_cancelled": False,
                    "lead_time": 5.0,
                    "created_at": "2026-12-02T10:01:00Z",
                }
            ]
        elif i == 2:
            annotations = [{"id": 3, "result": [], "was_cancelled": True, "lead_time": 3.0, "created_at": "2026-12-02"}]
        export.append({"id": i + 1, "data": task["data"], "annotations": annotations})
    return export


def test_with_expert_source_label_studio_students_train_on_the_imported_labels(run, tmp_path):
    import json

    outputs, catalog, parameters = run
    path = tmp_path / "export.json"
    path.write_text(json.dumps(annotated_export(outputs["label_studio_tasks"], outputs["expert_selection"])))
    for name, value in (
        ("params:mixed_annotation", {**parameters, "expert_source": "label_studio"}),
        (
            "params:label_studio",
            {**catalog.load("params:label_studio").model_dump(), "import_path": str(path), "seeds": [1, 2]},
        ),
    ):
        catalog[name] = MemoryDataset(value)
    run_validated(create_pipeline().only_nodes(*EXPERT_STEP), catalog)
    selection, labels = outputs["expert_selection"], catalog.load("expert_labels").set_index("sentence_id")
    first, second = selection.iloc[0], selection.iloc[1]
    assert list(labels.loc[first["sentence_id"], "expert_tags"]) == list(first["gold_tags"])
    assert list(labels.loc[second["sentence_id"], "expert_tags"]) == list(second["llm_tags"])
    summary = catalog.load("expert_label_summary")
    assert summary["sentences"] == {"labelled": 2, "cancelled": 1, "unlabelled": 1, "missing": 0}
    assert summary["lead_time_s"] == 38.0
    runs = catalog.load("expert_label_runs")
    assert set(runs["expert_source"]) == {"label_studio", "simulated"} and set(runs["seed"]) == {1, 2}
    assert (runs["expert_sentences"] == 2).all()
    table = catalog.load("expert_label_table")
    micro = table[(table["entity_type"] == "micro") & (table["split"] == "test")]
    assert len(micro) == 2 and (micro["seeds"] == 2).all()
    measured = micro.set_index("expert_source")
    assert measured.loc["label_studio", "expert_seconds"] == 38.0 and pd.isna(
        measured.loc["simulated", "expert_seconds"]
    )
    assert measured.loc["label_studio", "untimed_tokens"] == 0


def test_expert_source_label_studio_without_labels_stops_with_what_to_do(run):
    outputs, catalog, parameters = run
    catalog["params:mixed_annotation"] = MemoryDataset({**parameters, "expert_source": "label_studio"})
    catalog["params:label_studio"] = MemoryDataset(
        {**catalog.load("params:label_studio").model_dump(), "import_path": None}
    )
    with pytest.raises(ValueError, match="no sentence is labelled yet: import .*tasks.json into Label Studio"):
        run_validated(create_pipeline().only_nodes(*EXPERT_STEP), catalog)
    catalog["params:mixed_annotation"] = MemoryDataset({**parameters, "expert_source": "oracle"})
    with pytest.raises(
        ParameterValidationError, match=r"(?s)expert_source.*Input should be 'simulated' or 'label_studio'"
    ):
        run_validated(create_pipeline().only_nodes(*EXPERT_STEP), catalog)
