"""active_learning: from model_init and the set it trained on, S0's loop per strategy and seed,
then every strategy against random."""

from kedro.pipeline import Pipeline, node

from llm_ner.pipelines import stage
from llm_ner.report.plots import active_learning_curve

from .nodes import compare, expert_pool, next_batch_tasks, pull_annotations, run_active_learning


def create_pipeline(**kwargs) -> Pipeline:
    return stage("active_learning", [
        node(expert_pool, ["model_init_budget", "model_init_training_set", "mixing_pool", "expert_candidates"],
             "active_learning_pool", name="list_active_learning_pool"),
        # expert_source label_studio: people label each round's batch (docs/label_studio.md)
        node(pull_annotations, ["active_learning_pool", "params:active_learning", "params:entity_types",
                                "label_studio_credentials"], "active_learning_annotations",
             name="pull_active_learning_annotations"),
        node(run_active_learning,
             ["model_init", "model_init_training_set", "active_learning_pool", "evaluation_samples",
              "params:active_learning", "params:student", "params:entity_types", "params:cost_model", "params:grid",
              "active_learning_annotations"],
             ["active_learning_history", "active_learning_checkpoints"], name="run_active_learning"),
        node(next_batch_tasks, ["active_learning_history", "active_learning_pool", "params:active_learning",
                                "params:entity_types", "label_studio_credentials"], "active_learning_next_batch_tasks",
             name="export_next_batch_tasks"),
        node(compare, ["active_learning_history", "reference_students", "params:active_learning"],
             "active_learning_comparison", name="compare_active_learning_strategies"),
        node(active_learning_curve, "active_learning_history", "active_learning_curve", name="plot_active_learning_curve"),
    ])
