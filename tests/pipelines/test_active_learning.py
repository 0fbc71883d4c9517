"""The `active_learning` pipeline on conf/test parameters, from a model_init trained here on a
tiny random encoder, as mixed_annotation would hand it over."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import Version
from pipeline_catalog import KeptMemoryDataset, parameter_datasets, run_validated  # tests/ is on sys.path

from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerCheckpointsDataset
from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, fit, labelled_sentences
from llm_ner.model.evaluation import evaluation_samples_table
from llm_ner.pipelines.active_learning import create_pipeline
from llm_ner.settings import project_parameters

CONF = Path(__file__).resolve().parents[2] / "conf"
OUTPUTS = [
    "active_learning_pool",
    "active_learning_history",
    "active_learning_comparison",
    "active_learning_curve",
    "active_learning_annotations",
    "active_learning_next_batch_tasks",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    parameters = project_parameters("test", str(CONF))
    student = parameters["student"]
    train, valid = load_split("train").iloc[:150], load_split("valid").iloc[:30]
    training_set = train.iloc[:40][["sentence_id", "tokens", "ner_tags"]].assign(source="llm", weight=1.0)
    training_set.loc[training_set.index[:5], "source"] = "gold"  # model_init's expert sentences
    model_init = Tagger.build(TaggerConfig(**student["tagger"]), seed=1)
    fit(model_init, labelled_sentences(training_set), TrainingConfig(**student["trainer"]))
    candidates = train.iloc[40:][["sentence_id", "tokens", "ner_tags"]].rename(columns={"ner_tags": "gold_tags"})
    inputs = {
        "model_init": model_init,
        "model_init_training_set": training_set,
        "model_init_budget": {"mode": "add", "strategy": "random", "budget": 0.1, "percent": 10},
        "mixing_pool": pd.DataFrame(),
        "expert_candidates": candidates,
        "evaluation_samples": evaluation_samples_table(valid.iloc[:20], valid.iloc[20:]),
        "reference_students": pd.DataFrame(
            {"student": ["gold_only"], "split": ["test"], "entity_type": ["micro"], "f1": [0.2]}
        ),
    }
    datasets = {name: MemoryDataset(value, copy_mode="assign") for name, value in inputs.items()}
    datasets.update(parameter_datasets("params:active_learning", dict(parameters["active_learning"])))
    datasets["params:cost_model"] = MemoryDataset(dict(parameters["cost_model"]))
    datasets["params:student"] = MemoryDataset(dict(student))
    datasets["params:entity_types"] = MemoryDataset(dict(parameters["entity_types"]))
    datasets["params:grid"] = MemoryDataset({**parameters["grid"], "store": None})
    datasets["label_studio_credentials"] = MemoryDataset({"url": None, "api_key": None})
    folder = tmp_path_factory.mktemp("checkpoints")
    datasets["active_learning_checkpoints"] = TaggerCheckpointsDataset(
        str(folder / "active_learning"), version=Version(None, None)
    )
    catalog = DataCatalog(datasets=datasets)
    for name in OUTPUTS:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    run_validated(create_pipeline(), catalog)
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
    assert outputs["active_learning_annotations"].empty and outputs["active_learning_next_batch_tasks"] == []


def test_comparison_plot_and_checkpoints(run):
    outputs, catalog, parameters = run
    comparison = outputs["active_learning_comparison"].set_index("strategy")
    assert set(comparison.index) == set(parameters["strategies"]) and (comparison["seeds"] == 2).all()
    assert comparison.at["random", "ties"] == 4 and comparison.at["random", "gold_only_f1"] == 0.2
    assert comparison.loc["bald", ["wins", "losses", "ties"]].sum() == 4  # 2 seeds x 2 budgets
    assert len(outputs["active_learning_curve"].axes[0].get_lines()) == 3
    checkpoints = catalog.load("active_learning_checkpoints")
    assert sorted(checkpoints) == sorted(
        f"{s}/active_iter_{i}_added_{4 * i}" for s in parameters["strategies"] for i in (1, 2)
    )
    assert isinstance(checkpoints["bald/active_iter_2_added_8"](), Tagger)


def people_label(tasks, pool, seconds, skip=()):
    """A Label Studio JSON export of the tasks: each labelled with its gold tags in ``seconds``,
    those in ``skip`` skipped."""
    from label_studio_scenario import regions_of

    gold = pool.set_index("sentence_id")["gold_tags"]
    export = []
    for i, task in enumerate(tasks):
        sentence_id = task["data"]["sentence_id"]
        cancelled = sentence_id in skip
        result = [] if cancelled else regions_of(task, list(gold[sentence_id]))
        export.append(
            {
                "id": i + 1,
                "data": task["data"],
                "annotations": [
                    {
                        "id": i + 1,
                        "result": result,
                        "was_cancelled": cancelled,
                        "lead_time": seconds,
                        "created_at": "2026-12-02T10:00:00Z",
                    }
                ],
            }
        )
    return export


def test_with_people_the_loop_runs_as_far_as_they_labelled_and_exports_the_batch_it_waits_for(run, tmp_path):
    import json

    _, catalog, parameters = run
    export = tmp_path / "export.json"
    people = {
        **parameters,
        "expert_source": "label_studio",
        "label_studio": {
            **parameters["label_studio"],
            "strategy": "mean_token_entropy",
            "seed": 1,
            "import_path": str(export),
        },
    }
    catalog["params:active_learning"] = MemoryDataset(people)
    export.write_text("[]")
    run_validated(create_pipeline(), catalog)
    history, first = catalog.load("active_learning_history"), catalog.load("active_learning_next_batch_tasks")
    assert history["iteration"].tolist() == [0] and len(first) == 4  # nothing labelled: round 1 waits
    pool = catalog.load("active_learning_pool")
    skipped = first[0]["data"]["sentence_id"]
    export.write_text(json.dumps(people_label(first, pool, 20.0, skip={skipped})))
    run_validated(create_pipeline(), catalog)
    history, second = catalog.load("active_learning_history"), catalog.load("active_learning_next_batch_tasks")
    # the skipped sentence is never chosen: round 1 takes the next-best one instead, and waits for it
    waiting = {t["data"]["sentence_id"] for t in second}
    assert history["iteration"].tolist() == [0] and skipped not in waiting
    assert len(waiting - {t["data"]["sentence_id"] for t in first}) == 1
    export.write_text(
        json.dumps(
            people_label(
                first
                + [t for t in second if t["data"]["sentence_id"] not in {u["data"]["sentence_id"] for u in first}],
                pool,
                20.0,
                skip={skipped},
            )
        )
    )
    run_validated(create_pipeline(), catalog)
    history = catalog.load("active_learning_history")
    assert history["iteration"].tolist() == [0, 1] and history["added"].tolist() == [0, 4]
    # people's time: the skipped sentence, then four labelled ones, 20 s each
    assert history["expert_seconds"].tolist() == [20.0, 100.0]
    assert len(catalog.load("active_learning_next_batch_tasks")) == 4  # round 2 waits for its batch
    assert catalog.load("active_learning_comparison")["strategy"].tolist() == ["mean_token_entropy"]
