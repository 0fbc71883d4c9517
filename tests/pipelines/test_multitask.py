"""The multitask pipeline (seed S2) on conf/test's tiny tagger, topics from a local fake OpenAI server."""

from __future__ import annotations

import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer, capitalised_words_responder  # tests/ is on sys.path
from kedro.io import DataCatalog, MemoryDataset
from pipeline_catalog import KeptMemoryDataset, parameter_datasets, run_validated

from llm_ner.corpus import load_split
from llm_ner.model import Tagger
from llm_ner.model.evaluation import evaluation_samples_table
from llm_ner.pipelines.multitask import create_pipeline
from llm_ner.settings import project_parameters

OUTPUTS = (
    "multitask_sentences",
    "sentence_topics",
    "topic_spend",
    "topic_agreement",
    "topic_distribution",
    "multitask_runs",
    "multitask_comparison",
    "model_multitask",
    "topic_confusion",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    conf = project_parameters("test")
    cache = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    valid = load_split("valid").iloc[:40]
    with FakeOpenAIServer(capitalised_words_responder) as server:
        models = {**conf["llm_models"], "fake-llm": {**conf["llm_models"]["fake-llm"], "base_url": server.base_url}}
        datasets = {
            "train_sentences": MemoryDataset(load_split("train").iloc[:200]),
            "evaluation_samples": MemoryDataset(evaluation_samples_table(valid.iloc[:20], valid.iloc[20:])),
            "llm_api_credentials": MemoryDataset({"api_key": "sk-test"}),
        }
        for name, value in (
            ("llm_topics", conf["llm_topics"]),
            ("multitask", conf["multitask"]),
            ("llm_models", models),
            ("llm_annotation", {**conf["llm_annotation"], "cache_path": str(cache)}),
            ("cost_model", conf["cost_model"]),
            ("entity_types", conf["entity_types"]),
            ("grid", {**conf["grid"], "store": None}),
        ):
            datasets.update(parameter_datasets(f"params:{name}", value))
        catalog = DataCatalog(datasets=datasets)
        for name in OUTPUTS:
            catalog[name] = KeptMemoryDataset(copy_mode="assign")
        run_validated(create_pipeline(), catalog)
        requests = len(server.requests)
    return {name: catalog.load(name) for name in OUTPUTS}, requests, conf


def test_every_sentence_gets_an_llm_topic_and_the_calls_are_costed(run):
    outputs, requests, conf = run
    sentences, topics = outputs["multitask_sentences"], outputs["sentence_topics"]
    assert sentences["set"].value_counts().to_dict() == {"train": 16, "validation": 10, "test": 10}
    assert len(topics) == len(sentences) and set(topics["status"]) == {"ok"}
    with_digit = sentences["tokens"].map(lambda t: any(c.isdigit() for c in "".join(t)))
    assert (topics["topic"] == with_digit.astype(int)).all()  # the fake server's rule: a digit means Sport
    spend = outputs["topic_spend"]
    assert spend["api_calls"] == len(sentences) and spend["label_cost_usd"] > 0  # fake-llm is priced in conf/test
    agreement = outputs["topic_agreement"]
    assert agreement["sentences"] == 6 and agreement["agreement"] == 1.0  # a deterministic fake agrees with itself
    assert requests == len(sentences) + 6  # the agreement sample is asked again, in its own cache namespace


def test_each_design_is_scored_on_its_tasks_and_the_saved_model_has_both_heads(run):
    outputs, _, conf = run
    runs = outputs["multitask_runs"]
    assert set(runs["design"]) == set(conf["multitask"]["designs"])
    by_design = runs.set_index(["design", "split"])
    assert pd.isna(by_design.loc[("token_only", "test"), "sequence_f1"])
    assert pd.isna(by_design.loc[("sequence_only", "test"), "token_f1"])
    assert by_design.loc[("multitask_1_7", "test"), ["token_f1", "sequence_f1"]].notna().all()
    assert (runs["epochs"] == conf["multitask"]["trainer"]["epochs"]).all()  # the same budget of epochs
    table = outputs["multitask_comparison"]
    assert {"token_f1_mean", "sequence_f1_mean", "seeds"} <= set(table.columns)
    model = outputs["model_multitask"]
    classes = conf["llm_topics"]["prompts"][conf["llm_topics"]["prompt"]]["classes"]
    assert isinstance(model, Tagger) and model.config.sequence_classes == tuple(classes)
    confusion = outputs["topic_confusion"].set_index("llm_topic")
    assert confusion.shape == (5, 5) and confusion.to_numpy().sum() == 10
