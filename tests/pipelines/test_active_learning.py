"""The `active_learning` pipeline on conf/test parameters, from a model_init trained here on a
tiny random encoder, as mixed_annotation would hand it over."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import Version
from kedro.runner import SequentialRunner

from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerCheckpointsDataset
from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, fit, from_dict, labelled_sentences
from llm_ner.pipelines.active_learning import create_pipeline
from llm_ner.settings import project_parameters
from pipeline_catalog import KeptMemoryDataset, parameter_datasets  # tests/ is on sys.path

CONF = Path(__file__).resolve().parents[2] / "conf"
OUTPUTS = ["active_learning_pool", "active_learning_history", "active_learning_comparison", "active_learning_curve"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    parameters = project_parameters("test", str(CONF))
    student = parameters["student"]
    train, valid = load_split("train").iloc[:150], load_split("valid").iloc[:30]
    training_set = train.iloc[:40][["sentence_id", "tokens", "ner_tags"]].assign(source="llm", weight=1.0)
    training_set.loc[training_set.index[:5], "source"] = "gold"  # model_init's expert sentences
    model_init = Tagger.build(from_dict(TaggerConfig, student["tagger"]), seed=1)
    fit(model_init, labelled_sentences(training_set), from_dict(TrainingConfig, student["trainer"]))
    candidates = train.iloc[40:][["sentence_id", "tokens", "ner_tags"]].rename(columns={"ner_tags": "gold_tags"})
    inputs = {
        "model_init": model_init, "model_init_training_set": training_set,
        "model_init_budget": {"mode": "add", "strategy": "random", "budget": 0.1, "percent": 10},
        "mixing_pool": pd.DataFrame(), "expert_candidates": candidates,
        "evaluation_valid": valid.iloc[:20], "evaluation_test": valid.iloc[20:],
        "reference_students": pd.DataFrame({"student": ["gold_only"], "split": ["test"], "entity_type": ["micro"],
                                            "f1": [0.2]}),
    }
    datasets = {name: MemoryDataset(value, copy_mode="assign") for name, value in inputs.items()}
    datasets.update(parameter_datasets("params:active_learning", dict(parameters["active_learning"])))
    datasets["params:cost_model"] = MemoryDataset(dict(parameters["cost_model"]))
    datasets["params:student"] = MemoryDataset(dict(student))
    datasets["params:entity_types"] = MemoryDataset(dict(parameters["entity_types"]))
    datasets["params:grid"] = MemoryDataset({**parameters["grid"], "store": None})
    folder = tmp_path_factory.mktemp("checkpoints")
    datasets["active_learning_checkpoints"] = TaggerCheckpointsDataset(str(folder / "active_learning"), version=Version(None, None))
    catalog = DataCatalog(datasets=datasets)
    for name in OUTPUTS:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in OUTPUTS}, catalog, parameters["active_learning"]


def test_every_strategy_and_seed_runs_the_loop_from_model_init(run):
    outputs, _, parameters = run
    pool = outputs["active_learning_pool"]
    assert len(pool) == 110  # model_init's mode is add: train sentences outside its set
    history = outputs["active_learning_history"]
    runs = history.groupby(["strategy", "seed"])["added"].apply(list).to_dict()
    assert set(runs) == {(s, seed) for s in parameters["strategies"] for seed in parameters["seeds"]}
    assert all(added == [0, 4, 8] for added in runs.values())
    start = history[history["iteration"] == 0]
    assert start["validation_f1"].nunique() == 1  # every run starts from the same model_init
    assert (history["stopping_gold_sentences"] == 0).all()  # improvement_threshold null: no stopping on gold


def test_comparison_plot_and_checkpoints(run):
    outputs, catalog, parameters = run
    comparison = outputs["active_learning_comparison"].set_index("strategy")
    assert set(comparison.index) == set(parameters["strategies"]) and (comparison["seeds"] == 2).all()
    assert comparison.at["random", "ties"] == 4 and comparison.at["random", "gold_only_f1"] == 0.2
    assert comparison.loc["bald", ["wins", "losses", "ties"]].sum() == 4  # 2 seeds x 2 budgets
    assert len(outputs["active_learning_curve"].axes[0].get_lines()) == 3
    checkpoints = catalog.load("active_learning_checkpoints")
    assert sorted(checkpoints) == sorted(f"{s}/active_iter_{i}_added_{4 * i}" for s in parameters["strategies"] for i in (1, 2))
    assert isinstance(checkpoints["bald/active_iter_2_added_8"](), Tagger)
