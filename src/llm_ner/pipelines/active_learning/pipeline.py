"""active_learning: from model_init and the set it trained on, S0's loop per strategy and seed,
then every strategy against random."""

from kedro.pipeline import Pipeline, node, pipeline

from llm_ner.pipelines import stage, student_setup_node
from llm_ner.report.plots import active_learning_curve

from .nodes import (
    compare,
    design_active_learning,
    expert_pool,
    next_batch_tasks,
    price_active_learning,
    pull_annotations,
    push_next_batch,
    run_active_learning,
)


def _pool_and_people() -> Pipeline:
    """The sentences a loop may choose from, and what people labelled of each round's batch."""
    return pipeline(
        [
            node(
                expert_pool,
                ["model_init_budget", "model_init_training_set", "mixing_pool", "expert_candidates"],
                "active_learning_pool",
                name="list_active_learning_pool",
            ),
            # expert_source label_studio: people label each round's batch (docs/label_studio.md)
            node(
                pull_annotations,
                ["active_learning_pool", "params:active_learning", "params:entity_types", "label_studio_credentials"],
                "active_learning_annotations",
                name="pull_active_learning_annotations",
            ),
        ]
    )


def _loops() -> Pipeline:
    """S0's loop per strategy and seed, one grid cell each, priced round by round."""
    return pipeline(
        [
            student_setup_node("active_learning"),
            node(
                design_active_learning,
                ["model_init", "model_init_training_set", "active_learning_annotations", "params:active_learning"],
                "active_learning_design",
                name="design_active_learning",
            ),
            node(
                run_active_learning,
                ["active_learning_pool", "active_learning_design", "active_learning_student_setup"],
                ["active_learning_runs", "active_learning_checkpoints"],
                name="run_active_learning",
            ),
            node(
                price_active_learning,
                ["active_learning_runs", "params:cost_model"],
                "active_learning_history",
                name="price_active_learning_rounds",
            ),
        ]
    )


def _next_batch() -> Pipeline:
    """The next round's batch, as tasks for people and pushed to Label Studio."""
    return pipeline(
        [
            node(
                next_batch_tasks,
                ["active_learning_history", "active_learning_pool", "params:active_learning"],
                "active_learning_next_batch_tasks",
                name="export_next_batch_tasks",
            ),
            node(
                push_next_batch,
                [
                    "active_learning_next_batch_tasks",
                    "params:active_learning",
                    "params:entity_types",
                    "label_studio_credentials",
                ],
                None,
                name="push_next_batch_to_label_studio",
            ),
        ]
    )


def _comparison() -> Pipeline:
    """Every strategy against random, and the curve."""
    return pipeline(
        [
            node(
                compare,
                ["active_learning_history", "reference_students", "params:active_learning"],
                "active_learning_comparison",
                name="compare_active_learning_strategies",
            ),
            node(
                active_learning_curve,
                "active_learning_history",
                "active_learning_curve",
                name="plot_active_learning_curve",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return stage("active_learning", _pool_and_people() + _loops() + _next_batch() + _comparison())
