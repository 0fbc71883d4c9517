"""multitask (seed S2): an LLM labels every sentence with a topic, then token-only, sequence-only
and multitask taggers (alpha L_sequence + beta L_token, one design per alpha:beta) train on the same
sentences for the same epochs."""

from kedro.pipeline import Pipeline, node

from llm_ner.pipelines import llm_access_node, stage
from llm_ner.report.plots import topic_confusion_plot

from .nodes import (
    check_topic_agreement,
    compare_designs,
    comparison_table,
    label_sentence_topics,
    multitask_setup,
    topic_distribution,
    topic_distribution_plot,
    topic_sets,
)


def create_pipeline(**kwargs) -> Pipeline:
    return stage(
        "multitask",
        [
            node(
                topic_sets,
                ["train_sentences", "evaluation_samples", "params:multitask"],
                "multitask_sentences",
                name="choose_multitask_sentences",
            ),
            llm_access_node("multitask_llm_access"),
            node(
                label_sentence_topics,
                ["multitask_sentences", "params:llm_topics", "multitask_llm_access"],
                ["sentence_topics", "topic_spend"],
                name="label_sentence_topics",
            ),
            node(
                check_topic_agreement,
                ["multitask_sentences", "sentence_topics", "params:llm_topics", "multitask_llm_access"],
                "topic_agreement",
                name="check_topic_agreement",
            ),
            node(
                topic_distribution, ["sentence_topics", "params:llm_topics"], "topic_distribution", name="count_topics"
            ),
            node(topic_distribution_plot, "topic_distribution", "topic_distribution_plot", name="plot_topics"),
            node(
                multitask_setup,
                ["params:multitask", "params:llm_topics", "params:entity_types", "params:grid"],
                "multitask_student_setup",
                name="define_student_setup",
            ),
            node(
                compare_designs,
                ["multitask_sentences", "sentence_topics", "params:multitask", "multitask_student_setup"],
                ["multitask_runs", "model_multitask", "topic_confusion"],
                name="compare_multitask_designs",
            ),
            node(comparison_table, "multitask_runs", "multitask_comparison", name="summarise_multitask_designs"),
            node(topic_confusion_plot, "topic_confusion", "topic_confusion_plot", name="plot_topic_confusion"),
        ],
    )
