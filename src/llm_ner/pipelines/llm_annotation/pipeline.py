"""llm_annotation: score prompt strategies x LLMs on a validation sample, then label the training pool."""

from kedro.pipeline import Pipeline, node, pipeline

from llm_ner.pipelines import join_settings, llm_access_node, stage

from .nodes import (
    choose_labeller,
    count_llm_gold_usage,
    estimate_costs,
    evaluate_markup_quality,
    label_training_pool,
    sample_demonstration_pool,
    sample_sentences,
    summarise_spend,
)


def _settings() -> Pipeline:
    """Backends by name, their prices and credentials; then with the run settings and prompt
    templates -> one typed, cross-checked object."""
    return pipeline(
        [
            llm_access_node("llm_access"),
            node(
                join_settings,
                ["params:llm_annotation", "params:llm_prompts", "params:entity_types", "llm_access"],
                "llm_settings",
                name="join_llm_settings",
            ),
        ]
    )


def _samples() -> Pipeline:
    """Seeded samples: the pool to label, gold demonstrations (disjoint from it), the quality sample."""
    return pipeline(
        [
            node(
                sample_sentences,
                ["train_sentences", "params:llm_annotation.pool_size", "params:llm_annotation.seed"],
                "llm_training_pool",
                name="sample_llm_training_pool",
            ),
            node(
                sample_demonstration_pool,
                [
                    "train_sentences",
                    "llm_training_pool",
                    "params:llm_annotation.demonstration_pool_size",
                    "params:llm_annotation.seed",
                ],
                "llm_demonstration_pool",
                name="sample_llm_demonstration_pool",
            ),
            node(
                sample_sentences,
                ["valid_sentences", "params:llm_annotation.quality_sample_size", "params:llm_annotation.seed"],
                "llm_quality_sample",
                name="sample_llm_quality_sentences",
            ),
        ]
    )


def _labeller_choice() -> Pipeline:
    """What the calls would cost (saved before any is made), every strategy x model scored, the labeller chosen."""
    return pipeline(
        [
            node(
                estimate_costs,
                ["llm_quality_sample", "llm_training_pool", "llm_demonstration_pool", "llm_settings"],
                "llm_cost_estimate",
                name="estimate_llm_costs",
            ),
            node(
                evaluate_markup_quality,
                ["llm_quality_sample", "llm_demonstration_pool", "llm_cost_estimate", "llm_settings"],
                ["markup_quality", "markup_quality_labels", "markup_confidence"],
                name="evaluate_markup_quality",
            ),
            node(
                choose_labeller,
                ["markup_quality", "llm_settings"],
                ["llm_labeller", "labelling_settings"],
                name="choose_llm_labeller",
            ),
        ]
    )


def _labelling() -> Pipeline:
    """The pool labelled by the chosen labeller, the gold it consumed, and the money spent."""
    return pipeline(
        [
            node(
                label_training_pool,
                ["llm_training_pool", "llm_demonstration_pool", "train_sentences", "labelling_settings"],
                ["llm_labels", "llm_labelling_spend"],
                name="label_llm_training_pool",
            ),
            node(
                count_llm_gold_usage,
                ["llm_quality_sample", "llm_demonstration_pool", "llm_labeller", "llm_settings"],
                "llm_gold_usage",
                name="count_llm_gold_usage",
            ),
            node(summarise_spend, ["markup_quality", "llm_labelling_spend"], "llm_spend", name="summarise_llm_spend"),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return stage("llm_annotation", _settings() + _samples() + _labeller_choice() + _labelling())
