"""Thin nodes for the `multitask` pipeline; the work is done in :mod:`llm_ner.llm.topics` and
:mod:`llm_ner.multitask`."""

from __future__ import annotations

import dataclasses
from typing import Any

import matplotlib

matplotlib.use("Agg")  # nodes run headless
import matplotlib.pyplot as plt
import pandas as pd

from llm_ner import multitask
from llm_ner.grid import GridSettings
from llm_ner.llm.backends import make_backend
from llm_ner.llm.cache import ResponseCache
from llm_ner.llm.costs import money_totals
from llm_ner.llm.settings import Generation, LLMAccess
from llm_ner.llm.topics import TopicRun, agreement, distribution, label_topics
from llm_ner.model.evaluation import REPORTED_SPLITS, evaluation_sample
from llm_ner.model.examples import labelled_sentences
from llm_ner.parameters import EntityTypes, MultitaskParams, TopicParams
from llm_ner.sampling import seeded_sample
from llm_ner.students import Protocol, StudentSetup


def topic_sets(
    train_sentences: pd.DataFrame, evaluation_samples: pd.DataFrame, params: MultitaskParams
) -> pd.DataFrame:
    """The sentences every design trains on (a seeded sample of train, gold tags) and the reported
    samples they are scored on (the first ``evaluation_sentences`` of each), with a ``set`` column."""
    size = params.evaluation_sentences
    parts = [seeded_sample(train_sentences, params.train_sentences, params.seed).assign(set="train")]
    for name in REPORTED_SPLITS:
        sample = evaluation_sample(evaluation_samples, name)
        parts.append((sample if size is None else sample.iloc[:size]).assign(set=name))
    return pd.concat(parts, ignore_index=True)[["set", "sentence_id", "tokens", "ner_tags"]]


def _run_topics(
    sentences: pd.DataFrame,
    topics: TopicParams,
    model: str,
    generation: Generation,
    access: LLMAccess,
    namespace: str = "",
) -> TopicRun:
    """One topic labelling on ``model`` (an llm_models entry), priced from cost_model.llm_prices."""
    backend = make_backend(access.model(model, "llm_topics"), dict(access.credentials), access.model_dir)
    cache = ResponseCache(access.cache_path)
    try:
        return label_topics(
            sentences,
            topics.chosen_prompt,
            backend,
            cache,
            generation.request(),
            access.price(model),
            access.show_progress,
            namespace,
        )
    finally:
        cache.close()
        getattr(backend, "close", lambda: None)()


def _spend(run: TopicRun, sentences: int) -> dict[str, Any]:
    labels = run.labels
    return {
        "stage": "topics",
        "model": labels["model"].iloc[0] if len(labels) else None,
        "sentences": sentences,
        "statuses": {k: int(v) for k, v in labels["status"].value_counts().items()},
        "retries": run.retries,
        **money_totals(labels),
    }


def label_sentence_topics(
    sets: pd.DataFrame, topics: TopicParams, access: LLMAccess
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """S2's topic of every sentence (train sample and both evaluation samples) and what it cost."""
    run = _run_topics(sets, topics, topics.model, topics.generation, access)
    labels = sets[["set", "sentence_id"]].reset_index(drop=True).join(run.labels.drop(columns="sentence_id"))
    return labels, _spend(run, len(sets))


def check_topic_agreement(
    sets: pd.DataFrame, labels: pd.DataFrame, topics: TopicParams, access: LLMAccess
) -> dict[str, Any]:
    """The only check CoNLL allows: a second reading of a seeded sample (``llm_topics.agreement``:
    another model, or the same one sampled at another temperature) against the first."""
    second = topics.agreement
    sample = seeded_sample(sets, min(second.sentences, len(sets)), second.seed)
    generation = dataclasses.replace(topics.generation, temperature=second.temperature, seed=second.seed)
    run = _run_topics(sample, topics, second.model, generation, access, namespace=f"topic-agreement-{second.seed}")
    # sentence ids restart in every split: a sentence is (set, sentence_id)
    second_labels = run.labels.assign(set=sample["set"].to_numpy())
    result = agreement(labels, second_labels, on=["set", "sentence_id"])
    return {
        **result,
        "first": {"model": topics.model, **topics.generation.request()},
        "second": {"model": second.model, **generation.request()},
        "second_spend": _spend(run, len(sample)),
    }


def topic_distribution(labels: pd.DataFrame, topics: TopicParams) -> pd.DataFrame:
    return distribution(labels, topics.chosen_prompt.classes)


def topic_distribution_plot(table: pd.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(6.5, 4))
    table.pivot_table(index="topic_name", columns="set", values="share", sort=False).plot.bar(ax=axis)
    axis.set(title="LLM topics per set (share of sentences)", xlabel="topic", ylabel="share")
    figure.tight_layout()
    return figure


def _labelled(sets: pd.DataFrame, labels: pd.DataFrame, name: str):
    table = sets[sets["set"] == name].merge(labels[labels["set"] == name][["sentence_id", "topic"]], on="sentence_id")
    return labelled_sentences(table)


def multitask_setup(
    params: MultitaskParams, topics: TopicParams, entity_types: EntityTypes, grid: GridSettings
) -> StudentSetup:
    """The designs' own protocol (S2's tagger with a sequence head over the topic classes, S2's
    trainer) and the grid; the evaluation sets are the topic-labelled samples, built per run."""
    tagger = dataclasses.replace(params.tagger, sequence_classes=topics.chosen_prompt.classes)
    schema = entity_types.schema
    return StudentSetup(Protocol(tagger, params.trainer, schema.labels), {}, grid.grid(), schema)


def compare_designs(
    sets: pd.DataFrame, labels: pd.DataFrame, params: MultitaskParams, setup: StudentSetup
) -> tuple[pd.DataFrame, Any, pd.DataFrame]:
    """Every design x seed on the same sentences and epochs; the runs, the saved design's first-seed
    model, and that model's topics against the LLM's on the test sample."""
    evaluation = {split: _labelled(sets, labels, split) for split in ("validation", "test")}
    designs = {name: design.model_dump() for name, design in params.designs.items()}
    runs, model, predictions = multitask.multitask_runs(
        _labelled(sets, labels, "train"),
        evaluation,
        multitask.loss_weights(designs),
        list(params.seeds),
        setup.protocol,
        keep=params.saved_design,
        grid=setup.grid,
    )
    reference = [s.topic for s in evaluation["test"] if s.topic >= 0]
    return runs, model, multitask.confusion(reference, predictions["test"], setup.protocol.tagger.sequence_classes)


def comparison_table(runs: pd.DataFrame) -> pd.DataFrame:
    return multitask.summarise(runs)
