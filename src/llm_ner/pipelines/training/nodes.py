"""Thin Kedro nodes for the `training` pipeline; the work is done in :mod:`llm_ner.model`."""

from __future__ import annotations

import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")  # nodes run headless
import matplotlib.pyplot as plt
import pandas as pd

from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, evaluate, fit, from_dict, predict_tags
from llm_ner.model.learning_curve import learning_curve, summarise_learning_curve
from llm_ner.model.rendering import entities_page
from llm_ner.tags import unknown_tags

logger = logging.getLogger(__name__)

STUDENT_LABEL_COLUMNS = {"gold": "gold_tags", "llm": "llm_tags"}
COMPARED_METRICS = ("precision", "recall", "f1")


def _pairs(table: pd.DataFrame, tag_column: str) -> list[tuple[list[str], list[str]]]:
    # parquet hands lists back as numpy arrays
    return [(list(tokens), list(tags)) for tokens, tags in zip(table["tokens"], table[tag_column])]


def student_training_sets(llm_labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same sentences twice: once with gold tags, once with LLM tags (both as ``ner_tags``)."""
    missing = {"sentence_id", "tokens", *STUDENT_LABEL_COLUMNS.values()} - set(llm_labels.columns)
    if missing:
        raise ValueError(f"llm_labels lacks column(s) {sorted(missing)}")
    sets = []
    for column in STUDENT_LABEL_COLUMNS.values():
        table = llm_labels[["sentence_id", "tokens", column]].rename(columns={column: "ner_tags"})
        for row in table.itertuples(index=False):
            if len(row.ner_tags) != len(row.tokens) or unknown_tags(row.ner_tags):
                raise ValueError(
                    f"llm_labels sentence {row.sentence_id}: `{column}` must hold one CoNLL tag per token"
                )
        sets.append(table.reset_index(drop=True))
    logger.info("training both students on the same %d sentences", len(llm_labels))
    return sets[0], sets[1]


def evaluation_sample(sentences: pd.DataFrame, evaluation: dict[str, Any]) -> pd.DataFrame:
    """A seeded subsample of a split (``max_sentences: null`` keeps all) to bound CPU time."""
    limit = evaluation.get("max_sentences")
    if limit is None or limit >= len(sentences):
        return sentences
    if limit <= 0:
        raise ValueError(f"evaluation.max_sentences must be positive or null, got {limit!r}")
    return sentences.sample(n=limit, random_state=evaluation.get("seed", 0)).sort_values("sentence_id")


def train_student(
    training_set: pd.DataFrame, validation: pd.DataFrame, tagger: dict[str, Any], trainer: dict[str, Any]
) -> tuple[Tagger, pd.DataFrame]:
    """A new tagger trained on ``ner_tags``; early stopping on ``validation``. Returns it and its history."""
    training_config = from_dict(TrainingConfig, trainer)
    model = Tagger.build(from_dict(TaggerConfig, tagger), seed=training_config.seed)
    result = fit(model, _pairs(training_set, "ner_tags"), training_config, validation=_pairs(validation, "ner_tags"))
    return model, result.history


def evaluate_student(
    model: Tagger, validation: pd.DataFrame, test: pd.DataFrame, trainer: dict[str, Any]
) -> pd.DataFrame:
    """Entity P/R/F1 per type, micro/macro, token accuracy and loss, for the validation and test sets."""
    config = from_dict(TrainingConfig, trainer)
    tables = []
    for split, sentences in (("validation", validation), ("test", test)):
        result = evaluate(
            model, [list(t) for t in sentences["tokens"]], [list(t) for t in sentences["ner_tags"]],
            config.eval_batch_size, config.evaluation_mode, config.mixed_precision,
        )
        tables.append(result.to_table(split))
    return pd.concat(tables, ignore_index=True)


def compare_students(gold_metrics: pd.DataFrame, llm_metrics: pd.DataFrame) -> pd.DataFrame:
    """Side by side per split, entity type and metric (P/R/F1 per type; token accuracy and loss as
    type ``all``); ``difference`` = LLM - gold, ``retained`` = LLM / gold."""

    def long(metrics: pd.DataFrame, student: str) -> pd.DataFrame:
        entity = metrics.melt(["split", "entity_type"], list(COMPARED_METRICS), var_name="metric", value_name=student)
        overall = (
            metrics.groupby("split", sort=False)[["token_accuracy", "loss"]].first().reset_index()
            .melt("split", var_name="metric", value_name=student).assign(entity_type="all")
        )
        return pd.concat([entity, overall], ignore_index=True)

    table = long(gold_metrics, "gold").merge(long(llm_metrics, "llm"), on=["split", "entity_type", "metric"])
    table["difference"] = table["llm"] - table["gold"]
    # share of the gold student's score the LLM student keeps; meaningless for a loss
    table["retained"] = (table["llm"] / table["gold"]).where((table["gold"] != 0) & (table["metric"] != "loss"))
    return table[["split", "entity_type", "metric", "gold", "llm", "difference", "retained"]]


def learning_curve_runs(
    train_sentences: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame,
    tagger: dict[str, Any], curve: dict[str, Any],
) -> pd.DataFrame:
    """Gold-trained taggers on ``curve.sizes`` training sentences, each with every seed in ``curve.seeds``."""
    unknown = set(curve) - {"sizes", "seeds", "trainer"}
    if unknown:
        raise ValueError(f"unknown learning_curve parameter(s) {sorted(unknown)}; allowed: ['seeds', 'sizes', 'trainer']")
    return learning_curve(
        pool=_pairs(train_sentences, "ner_tags"),
        evaluation_sets={"validation": _pairs(validation, "ner_tags"), "test": _pairs(test, "ner_tags")},
        sizes=curve["sizes"],
        seeds=curve["seeds"],
        tagger_config=from_dict(TaggerConfig, tagger),
        training_config=from_dict(TrainingConfig, curve.get("trainer")),
    )


def learning_curve_summary(runs: pd.DataFrame) -> pd.DataFrame:
    return summarise_learning_curve(runs)


def learning_curve_plot(summary: pd.DataFrame) -> plt.Figure:
    """Micro F1 (mean ± std over seeds) against training-set size, log x axis."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for split, rows in summary[summary["entity_type"] == "micro"].groupby("split", sort=False):
        axis.errorbar(rows["size"], rows["f1_mean"], yerr=rows["f1_std"], marker="o", capsize=3, label=split)
    axis.set_xscale("log")
    axis.set_xlabel("gold training sentences")
    axis.set_ylabel("entity F1 (micro)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title("Learning curve (mean ± std over seeds)")
    figure.tight_layout()
    return figure


def entity_examples_html(model: Tagger, test: pd.DataFrame, examples: dict[str, Any]) -> str:
    """The model's entities next to the gold ones for a seeded sample of test sentences."""
    sample = test.sample(n=min(examples["sentences"], len(test)), random_state=examples.get("seed", 0))
    sample = sample.sort_values("sentence_id")
    words = [list(t) for t in sample["tokens"]]
    predicted = predict_tags(model, words)
    blocks = []
    for sentence_id, tokens, gold, tags in zip(sample["sentence_id"], words, sample["ner_tags"], predicted):
        blocks.append((f"test sentence {sentence_id}: model_gold", tokens, tags))
        blocks.append((f"test sentence {sentence_id}: gold", tokens, list(gold)))
    return entities_page("Entities found by model_gold on test sentences", blocks)
