"""The `training` pipeline end to end on conf/test parameters (tiny random encoder), with an
`llm_labels` table built here from gold tags with systematic LLM-like errors, and the labeller's
`llm_gold_usage` (made by llm_annotation in a real run) built here too."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from pipeline_catalog import KeptMemoryDataset, parameter_datasets, run_validated  # tests/ is on sys.path

from llm_ner.accounting import gold_usage, usage_table
from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerModelDataset
from llm_ner.model import Tagger
from llm_ner.parameters import EntityTypes, EvaluationParams, TrainingParams
from llm_ner.pipelines.training import create_pipeline
from llm_ner.pipelines.training.nodes import (
    compare_students,
    model_selection_sets,
    student_training_sets,
    validation_samples,
)
from llm_ner.settings import project_parameters
from llm_ner.tags import bio_to_spans
from llm_ner.typed import parse

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny network; avoids OpenMP oversubscription on a shared 2-core CPU
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def parameters():
    conf = project_parameters("test", str(CONF))
    return {
        **conf["training"],
        "student": conf["student"],
        "entity_types": conf["entity_types"],
        "grid": {**conf["grid"], "store": None},
    }


def _llm_like(tags):
    """An annotator that calls every organisation a location and never tags MISC."""
    return [t.replace("ORG", "LOC") if "ORG" in t else ("O" if "MISC" in t else t) for t in tags]


@pytest.fixture(scope="module")
def splits():
    train, valid, test = (load_split(s).iloc[:300] for s in ("train", "valid", "test"))
    pool = train.iloc[:60]
    llm_labels = pd.DataFrame(
        {
            "sentence_id": pool["sentence_id"],
            "document_id": pool["document_id"],
            "tokens": pool["tokens"],
            "gold_tags": pool["ner_tags"],
            "llm_tags": [_llm_like(t) for t in pool["ner_tags"]],
            "status": "ok",
            "failure_reason": None,
            "strategy": "span_json",
            "model": "fake-llm",
        }
    )
    # what llm_annotation reports: 20 kNN demonstrations and 4 validation sentences to pick the prompt
    llm_gold_usage = usage_table(
        [
            gold_usage("llm_labeller", "demonstrations", "kNN demonstration pool", train.iloc[100:120]),
            gold_usage("llm_labeller", "model_selection", "quality sample: strategy x model", valid.iloc[:4]),
        ]
    )
    return {
        "llm_labels": llm_labels,
        "train_sentences": train,
        "valid_sentences": valid,
        "test_sentences": test,
        "llm_gold_usage": llm_gold_usage,
        "llm_quality_sample": valid.iloc[:4],
    }


OUTPUTS = [
    "metrics_gold",
    "metrics_llm",
    "student_comparison",
    "learning_curve_runs",
    "learning_curve",
    "learning_curve_plot",
    "entity_examples_html",
    "training_history_gold",
    "training_history_llm",
    "gold_label_usage",
    "student_gold_labels",
]
# intermediate samples, kept to check what each student was trained, selected and scored on
SAMPLES = [
    "gold_training_set",
    "llm_training_set",
    "evaluation_samples",
    "gold_validation_sample",
    "llm_validation_sample",
    "selection_set_gold",
    "selection_set_llm",
]


def _run(splits, parameters, model_folder, outputs=OUTPUTS):
    datasets = {name: MemoryDataset(table) for name, table in splits.items()}
    for student in ("gold", "llm"):
        datasets[f"model_{student}"] = TaggerModelDataset(str(model_folder / f"model_{student}"), version=None)
    training = {k: v for k, v in parameters.items() if k not in ("student", "grid", "entity_types")}
    datasets.update(parameter_datasets("params:training", training))
    datasets.update(parameter_datasets("params:student", parameters["student"]))
    datasets["params:grid"] = MemoryDataset(parameters["grid"])
    datasets["params:entity_types"] = MemoryDataset(parameters["entity_types"])
    catalog = DataCatalog(datasets=datasets)
    for name in [*outputs, *SAMPLES]:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    run_validated(create_pipeline().to_outputs(*outputs), catalog)
    return {name: catalog.load(name) for name in [*outputs, *SAMPLES]}, catalog


@pytest.fixture(scope="module")
def first_run(splits, parameters, tmp_path_factory):
    return _run(splits, parameters, tmp_path_factory.mktemp("run1"))


def test_both_students_are_trained_saved_and_evaluated(first_run, splits, parameters):
    outputs, catalog = first_run
    for student in ("gold", "llm"):
        model = catalog.load(f"model_{student}")
        assert isinstance(model, Tagger)
        history = outputs[f"training_history_{student}"]
        assert 1 <= len(history) <= parameters["student"]["trainer"]["epochs"]
        assert (history["sentences"] == 48).all()  # 60 less the 20 % held out for llm_validation
        metrics = outputs[f"metrics_{student}"]
        assert set(metrics["split"]) == {"validation", "test"}
        assert (metrics.groupby("split").size() == 6).all()
    # the LLM student never saw an ORG or MISC label, so it never predicts one
    llm = outputs["metrics_llm"].set_index(["split", "entity_type"])
    assert llm.loc[("test", "ORG"), "f1"] == 0 and llm.loc[("test", "MISC"), "f1"] == 0
    # evaluation used the configured seeded sample of the test split: its entities are the support
    sample = validation_samples(
        splits["test_sentences"], EvaluationParams(**{**parameters["evaluation"], "selection_sentences": 0})
    )[0]
    assert len(sample) == parameters["evaluation"]["max_sentences"] < len(splits["test_sentences"])
    entities = sum(len(bio_to_spans(list(tags))) for tags in sample["ner_tags"])
    assert llm.loc[("test", "micro"), "support"] == entities


def test_comparison_puts_the_students_side_by_side(first_run):
    outputs, _ = first_run
    comparison = outputs["student_comparison"]
    assert len(comparison) == 2 * (6 * 3 + 2) + 3  # + the charged gold sentences, tokens, entities
    row = comparison[
        (comparison["split"] == "test") & (comparison["entity_type"] == "PER") & (comparison["metric"] == "f1")
    ]
    gold = outputs["metrics_gold"].set_index(["split", "entity_type"]).loc[("test", "PER"), "f1"]
    llm = outputs["metrics_llm"].set_index(["split", "entity_type"]).loc[("test", "PER"), "f1"]
    assert row["gold"].item() == gold and row["llm"].item() == llm
    assert row["difference"].item() == pytest.approx(llm - gold)


def test_learning_curve_covers_every_size_and_seed(first_run, parameters):
    outputs, _ = first_run
    curve = parameters["learning_curve"]
    runs = outputs["learning_curve_runs"]
    assert len(runs) == len(curve["sizes"]) * len(curve["seeds"]) * 2 * 6
    summary = outputs["learning_curve"]
    micro = summary[(summary["entity_type"] == "micro") & (summary["split"] == "test")]
    assert micro["size"].tolist() == sorted(curve["sizes"]) and (micro["runs"] == len(curve["seeds"])).all()
    assert outputs["learning_curve_plot"].axes[0].get_xlabel() == "gold training sentences"


def test_entity_examples_page_shows_model_and_gold(first_run, parameters):
    page = first_run[0]["entity_examples_html"]
    assert page.count("model_gold</figcaption>") == parameters["examples"]["sentences"]
    assert page.count(": gold</figcaption>") == parameters["examples"]["sentences"]
    assert "<mark" in page  # at least the gold entities are highlighted


def test_a_second_identical_run_reproduces_the_metrics(first_run, splits, parameters, tmp_path):
    second, _ = _run(splits, parameters, tmp_path)
    for name in ("metrics_gold", "metrics_llm", "student_comparison", "learning_curve_runs"):
        pd.testing.assert_frame_equal(first_run[0][name], second[name])


def test_llm_labels_with_misaligned_tags_are_refused(splits, parameters):
    broken = splits["llm_labels"].copy()
    broken.at[broken.index[3], "llm_tags"] = ["O"]
    with pytest.raises(
        ValueError, match=r"sentence \d+: `llm_tags` must hold one tag per token of O, B-PER, .* \(entity_types\)"
    ):
        training = {k: v for k, v in parameters.items() if k not in ("student", "grid", "entity_types")}
        student_training_sets(
            broken, parse(TrainingParams, training, "training"), EntityTypes.model_validate(parameters["entity_types"])
        )


def test_comparison_difference_and_retained_share():
    def metrics(f1):
        return pd.DataFrame(
            {
                "split": ["test"],
                "entity_type": ["micro"],
                "precision": [f1],
                "recall": [f1],
                "f1": [f1],
                "support": [10],
                "token_accuracy": [0.9],
                "loss": [0.5],
            }
        )

    charged = pd.DataFrame(
        {
            "consumer": ["model_gold", "model_llm"],
            "charged_sentences": [100, 24],
            "charged_tokens": [1400, 300],
            "charged_entities": [160, 30],
        }
    )
    table = compare_students(metrics(0.8), metrics(0.6), charged).set_index(["entity_type", "metric"])
    assert table.loc[("micro", "f1"), "difference"] == pytest.approx(-0.2)
    assert table.loc[("micro", "f1"), "retained"] == pytest.approx(0.75)
    assert table.loc[("all", "loss"), "difference"] == 0
    assert pd.isna(table.loc[("all", "loss"), "retained"])
    assert table.loc[("all", "charged_sentences"), "difference"] == -76


def test_reported_validation_is_disjoint_from_every_selection_set(first_run, splits, parameters):
    samples = first_run[0]
    assert parameters["model_selection"] == {"gold": "gold_validation", "llm": "llm_validation"}
    evaluation = samples["evaluation_samples"]
    assert sorted(evaluation["split"].unique()) == ["test", "validation"]
    reported = set(evaluation.loc[evaluation["split"] == "validation", "sentence_id"])
    gold_selection = set(samples["selection_set_gold"]["sentence_id"])
    assert len(gold_selection) == parameters["evaluation"]["selection_sentences"]
    assert len(reported) == parameters["evaluation"]["max_sentences"]
    assert not reported & gold_selection
    # nor from the validation sentences that chose the LLM labeller
    assert not (reported | gold_selection) & set(splits["llm_quality_sample"]["sentence_id"])
    # model_llm chose its epoch on held-out pool sentences, on their LLM tags, never trained on
    llm_selection = samples["selection_set_llm"]
    trained = set(samples["gold_training_set"]["sentence_id"])
    assert trained == set(samples["llm_training_set"]["sentence_id"])  # both students, same sentences
    assert len(llm_selection) == 12 and not trained & set(llm_selection["sentence_id"])
    llm_tags = splits["llm_labels"].set_index("sentence_id")["llm_tags"]
    gold_tags = splits["llm_labels"].set_index("sentence_id")["gold_tags"]
    assert all(
        list(tags) == list(llm_tags[i]) for i, tags in zip(llm_selection["sentence_id"], llm_selection["ner_tags"])
    )
    assert any(
        list(tags) != list(gold_tags[i]) for i, tags in zip(llm_selection["sentence_id"], llm_selection["ner_tags"])
    )
    # the histories call what chose the epoch "selection", never "validation"
    for student in ("gold", "llm"):
        history = samples[f"training_history_{student}"]
        assert "selection_f1" in history and not any(c.startswith("validation") for c in history)


def test_gold_label_usage_charges_each_student_what_it_consumed(first_run, parameters):
    outputs = first_run[0]
    usage = outputs["gold_label_usage"].set_index(["consumer", "purpose"])
    entities = sum(len(bio_to_spans(list(t))) for t in outputs["gold_training_set"]["ner_tags"])
    assert usage.loc[("model_gold", "training"), "sentences"] == 48
    assert usage.loc[("model_gold", "training"), "entities"] == entities
    assert usage.loc[("model_gold", "model_selection"), "sentences"] == parameters["evaluation"]["selection_sentences"]
    assert usage.loc[("model_llm", "training"), "sentences"] == 0
    assert usage.loc[("model_llm", "demonstrations"), "sentences"] == 20
    selection = usage.loc[("model_llm", "model_selection")].set_index("what")["sentences"]
    assert selection.to_dict() == {
        "llm_validation: llm_labels sentences held out of training (LLM tags: no gold)": 0,
        "llm_labeller: quality sample: strategy x model": 4,
    }
    assert (usage.xs("evaluation", level="purpose")["sentences"] == parameters["evaluation"]["max_sentences"]).all()

    charged = outputs["student_gold_labels"].set_index("consumer")
    assert charged.loc["model_gold", "charged_sentences"] == 48 + parameters["evaluation"]["selection_sentences"]
    assert charged.loc["model_llm", "charged_sentences"] == 20 + 4
    assert charged.loc["model_llm", "demonstrations_sentences"] == 20
    comparison = outputs["student_comparison"].set_index(["split", "metric"])
    row = comparison.loc[("gold_labels", "charged_sentences")]
    assert (row["gold"], row["llm"], row["difference"]) == (78, 24, -54) and pd.isna(row["retained"])


def test_fixed_epochs_and_a_gold_selected_llm_student(splits, parameters, tmp_path):
    """gold: fixed_epochs (all epochs, no selection, no gold for it); llm: gold_validation. No
    student uses llm_validation, so both train on the whole pool."""
    changed = {**parameters, "model_selection": {"gold": "fixed_epochs", "llm": "gold_validation"}}
    outputs, _ = _run(
        splits,
        changed,
        tmp_path,
        outputs=["training_history_gold", "training_history_llm", "student_gold_labels", "gold_label_usage"],
    )
    gold_history = outputs["training_history_gold"]
    assert len(gold_history) == parameters["student"]["trainer"]["epochs"] and "selection_f1" not in gold_history
    assert (gold_history["sentences"] == 60).all()
    assert "selection_f1" in outputs["training_history_llm"]
    assert (
        outputs["selection_set_llm"]["sentence_id"].tolist()
        == outputs["gold_validation_sample"]["sentence_id"].tolist()
    )
    assert outputs["selection_set_gold"].empty and outputs["llm_validation_sample"].empty
    charged = outputs["student_gold_labels"].set_index("consumer")
    assert charged.loc["model_gold", "model_selection_sentences"] == 0
    assert charged.loc["model_gold", "charged_sentences"] == 60
    assert charged.loc["model_llm", "model_selection_sentences"] == parameters["evaluation"]["selection_sentences"] + 4


def test_a_bad_model_selection_names_the_parameter_and_the_allowed_values(splits, parameters):
    training = {k: v for k, v in parameters.items() if k not in ("student", "grid", "entity_types")}

    def with_(**changes):
        return parse(TrainingParams, {**training, **changes}, "training")

    with pytest.raises(
        ValueError,
        match=r"training.model_selection.llm: Input should be 'gold_validation', "
        r"'llm_validation' or 'fixed_epochs', got 'best_epoch'",
    ):
        with_(model_selection={"gold": "gold_validation", "llm": "best_epoch"})
    with pytest.raises(ValueError, match=r"training.model_selection.llm: Field required"):
        with_(model_selection={"gold": "fixed_epochs"})
    with pytest.raises(ValueError, match=r"training.llm_validation_share: Input should be less than 1, got 1.0"):
        with_(llm_validation_share=1.0)
    empty = splits["valid_sentences"].iloc[:0]
    with pytest.raises(
        ValueError, match="gold is gold_validation but its sample is empty: set training.evaluation.selection_sentences"
    ):
        model_selection_sets(with_(model_selection={"gold": "gold_validation", "llm": "fixed_epochs"}), empty, empty)


def test_validation_samples_are_disjoint_and_leave_the_reported_sample_unchanged(splits):
    valid = splits["valid_sentences"]
    reported, selection = validation_samples(valid, EvaluationParams(max_sentences=30, selection_sentences=50, seed=0))
    assert len(reported) == 30 and len(selection) == 50
    assert not set(reported["sentence_id"]) & set(selection["sentence_id"])
    # the reported sample does not depend on the selection size: it is what test sentences get too
    assert (
        reported["sentence_id"].tolist()
        == validation_samples(valid, EvaluationParams(max_sentences=30, selection_sentences=0, seed=0))[0][
            "sentence_id"
        ].tolist()
    )
    everything, selection = validation_samples(
        valid, EvaluationParams(max_sentences=None, selection_sentences=50, seed=0)
    )
    assert len(everything) == len(valid) - 50
    assert set(everything["sentence_id"]) | set(selection["sentence_id"]) == set(valid["sentence_id"])
    assert not set(everything["sentence_id"]) & set(selection["sentence_id"])
