"""The `training` pipeline end to end on conf/test parameters (tiny random encoder), with an
`llm_labels` table built here from gold tags with systematic LLM-like errors."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerModelDataset
from llm_ner.model import Tagger
from llm_ner.pipelines.training import create_pipeline
from llm_ner.pipelines.training.nodes import compare_students, evaluation_sample, student_training_sets
from llm_ner.tags import bio_to_spans

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny network; avoids OpenMP oversubscription on a shared 2-core CPU
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def parameters():
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="test",
                               config_patterns={"parameters": ["parameters*"]})
    return loader["parameters"]["training"]


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the run (the runner releases in-memory intermediates it has consumed)."""

    def _release(self) -> None:
        pass


def _llm_like(tags):
    """An annotator that calls every organisation a location and never tags MISC."""
    return [t.replace("ORG", "LOC") if "ORG" in t else ("O" if "MISC" in t else t) for t in tags]


@pytest.fixture(scope="module")
def splits():
    train, valid, test = (load_split(s).iloc[:300] for s in ("train", "valid", "test"))
    pool = train.iloc[:60]
    llm_labels = pd.DataFrame({
        "sentence_id": pool["sentence_id"], "document_id": pool["document_id"], "tokens": pool["tokens"],
        "gold_tags": pool["ner_tags"], "llm_tags": [_llm_like(t) for t in pool["ner_tags"]],
        "status": "ok", "failure_reason": None, "strategy": "span_json", "model": "fake-llm",
    })
    return {"llm_labels": llm_labels, "train_sentences": train, "valid_sentences": valid, "test_sentences": test}


def _run(splits, parameters, model_folder):
    datasets = {name: MemoryDataset(table) for name, table in splits.items()}
    for student in ("gold", "llm"):
        datasets[f"model_{student}"] = TaggerModelDataset(str(model_folder / f"model_{student}"), version=None)
    for key, value in parameters.items():
        datasets[f"params:training.{key}"] = MemoryDataset(value)
    catalog = DataCatalog(datasets=datasets)
    outputs = ["metrics_gold", "metrics_llm", "student_comparison", "learning_curve_runs", "learning_curve",
               "learning_curve_plot", "entity_examples_html", "training_history_gold", "training_history_llm"]
    for name in outputs:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in outputs}, catalog


@pytest.fixture(scope="module")
def first_run(splits, parameters, tmp_path_factory):
    return _run(splits, parameters, tmp_path_factory.mktemp("run1"))


def test_both_students_are_trained_saved_and_evaluated(first_run, splits, parameters):
    outputs, catalog = first_run
    for student in ("gold", "llm"):
        model = catalog.load(f"model_{student}")
        assert isinstance(model, Tagger)
        history = outputs[f"training_history_{student}"]
        assert 1 <= len(history) <= parameters["trainer"]["epochs"]
        assert (history["sentences"] == 60).all()
        metrics = outputs[f"metrics_{student}"]
        assert set(metrics["split"]) == {"validation", "test"}
        assert (metrics.groupby("split").size() == 6).all()
    # the LLM student never saw an ORG or MISC label, so it never predicts one
    llm = outputs["metrics_llm"].set_index(["split", "entity_type"])
    assert llm.loc[("test", "ORG"), "f1"] == 0 and llm.loc[("test", "MISC"), "f1"] == 0
    # evaluation used the configured seeded sample of the test split: its entities are the support
    sample = evaluation_sample(splits["test_sentences"], parameters["evaluation"])
    assert len(sample) == parameters["evaluation"]["max_sentences"] < len(splits["test_sentences"])
    entities = sum(len(bio_to_spans(list(tags))) for tags in sample["ner_tags"])
    assert llm.loc[("test", "micro"), "support"] == entities


def test_comparison_puts_the_students_side_by_side(first_run):
    outputs, _ = first_run
    comparison = outputs["student_comparison"]
    assert len(comparison) == 2 * (6 * 3 + 2)
    row = comparison[(comparison["split"] == "test") & (comparison["entity_type"] == "PER") & (comparison["metric"] == "f1")]
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


def test_llm_labels_with_misaligned_tags_are_refused(splits):
    broken = splits["llm_labels"].copy()
    broken.at[broken.index[3], "llm_tags"] = ["O"]
    with pytest.raises(ValueError, match=r"sentence \d+: `llm_tags` must hold one CoNLL tag per token"):
        student_training_sets(broken)


def test_comparison_difference_and_retained_share():
    def metrics(f1):
        return pd.DataFrame({"split": ["test"], "entity_type": ["micro"], "precision": [f1], "recall": [f1],
                             "f1": [f1], "support": [10], "token_accuracy": [0.9], "loss": [0.5]})

    table = compare_students(metrics(0.8), metrics(0.6)).set_index(["entity_type", "metric"])
    assert table.loc[("micro", "f1"), "difference"] == pytest.approx(-0.2)
    assert table.loc[("micro", "f1"), "retained"] == pytest.approx(0.75)
    assert table.loc[("all", "loss"), "difference"] == 0
    assert pd.isna(table.loc[("all", "loss"), "retained"])
