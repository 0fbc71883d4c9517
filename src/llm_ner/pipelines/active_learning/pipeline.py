"""active_learning: from model_init and the set it trained on, S0's loop per strategy and seed,
then every strategy against random."""

from kedro.pipeline import Pipeline, node

from llm_ner.pipelines import stage

from .nodes import compare, curve_plot, expert_pool, run_active_learning


def create_pipeline(**kwargs) -> Pipeline:
    return stage("active_learning", [
        node(expert_pool, ["model_init_budget", "model_init_training_set", "mixing_pool", "expert_candidates"],
             "active_learning_pool", name="list_active_learning_pool"),
        node(run_active_learning,
             ["model_init", "model_init_training_set", "active_learning_pool", "evaluation_valid", "evaluation_test",
              "params:active_learning", "params:student", "params:entity_types", "params:cost_model", "params:grid"],
             ["active_learning_history", "active_learning_checkpoints"], name="run_active_learning"),
        node(compare, ["active_learning_history", "reference_students", "params:active_learning"],
             "active_learning_comparison", name="compare_active_learning_strategies"),
        node(curve_plot, "active_learning_history", "active_learning_curve", name="plot_active_learning_curve"),
    ])
