"""The `mixed_annotation` pipeline on conf/test parameters (tiny random encoder), from an
`llm_labels` table built here: gold tags with LLM-like errors and an LLM confidence per sentence."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from llm_ner.accounting import gold_usage, usage_table
from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerModelDataset
from llm_ner.model import Tagger
from llm_ner.pipelines.mixed_annotation import create_pipeline
from llm_ner.settings import project_parameters
from pipeline_catalog import KeptMemoryDataset, parameter_datasets  # tests/ is on sys.path

CONF = Path(__file__).resolve().parents[2] / "conf"
OUTPUTS = ["mixed_annotation.add.budget_table", "mixed_annotation.correct.budget_table", "mixed_annotation.add.budget_curve",
           "mixed_annotation.correct.budget_curve", "reference_students", "model_init_budget", "model_init_training_set",
           "llm_label_quality", "regimen_table", "blending_table", "blending_weights"]




@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    conf = project_parameters("test", str(CONF))
    parameters = conf["mixed_annotation"]
    train, valid, test = (load_split(s).iloc[:300] for s in ("train", "valid", "test"))
    pool = train.iloc[:40]
    llm_labels = pd.DataFrame({
        "sentence_id": pool["sentence_id"], "tokens": pool["tokens"], "gold_tags": pool["ner_tags"],
        "llm_tags": [[t.replace("ORG", "LOC") for t in tags] for tags in pool["ner_tags"]],
        "sentence_confidence": [(i % 7) / 7 for i in range(len(pool))],
    })
    demonstrations = train.iloc[40:60]
    inputs = {"llm_labels": llm_labels, "train_sentences": train, "llm_demonstration_pool": demonstrations,
              "evaluation_valid": valid.iloc[:20], "evaluation_test": test.iloc[:20],
              "llm_gold_usage": usage_table([gold_usage("llm_labeller", "demonstrations", "kNN pool", demonstrations)])}
    datasets = {name: MemoryDataset(value) for name, value in inputs.items()}
    parameters = {**parameters, "llm_weight": "confidence"}  # the LLM tags here carry a confidence
    datasets.update(parameter_datasets("params:mixed_annotation", parameters))
    datasets["params:student"] = MemoryDataset(conf["student"])
    datasets["params:entity_types"] = MemoryDataset(conf["entity_types"])
    datasets["params:grid"] = MemoryDataset({**conf["grid"], "store": None})
    folder = tmp_path_factory.mktemp("models")
    for name in ("model_init", "model_llm_pure"):
        datasets[name] = TaggerModelDataset(str(folder / name), version=None)
    catalog = DataCatalog(datasets=datasets)
    for name in OUTPUTS:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
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
    expected = {"A_gold": (0, gold), "B_llm": (half, 0), "C_llm_extra": (40, 0), "D_llm_then_gold": (half, gold),
                "E_llm_extra_then_gold": (40, gold)}
    assert {name: (row.llm_sentences, row.gold_sentences) for name, row in micro.iterrows()} == expected
    assert {"macro", "PER", "LOC"} <= set(table["entity_type"]) and micro["f1_std"].ge(0).all()
