from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    compare_students,
    entity_examples_html,
    evaluate_student,
    evaluation_sample,
    learning_curve_plot,
    learning_curve_runs,
    learning_curve_summary,
    student_training_sets,
    train_student,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(student_training_sets, "llm_labels", ["gold_training_set", "llm_training_set"],
                 name="split_student_training_sets"),
            node(evaluation_sample, ["valid_sentences", "params:training.evaluation"], "evaluation_valid",
                 name="sample_validation_sentences"),
            node(evaluation_sample, ["test_sentences", "params:training.evaluation"], "evaluation_test",
                 name="sample_test_sentences"),
            node(train_student, ["gold_training_set", "evaluation_valid", "params:training.tagger", "params:training.trainer"],
                 ["model_gold", "training_history_gold"], name="train_model_gold"),
            node(train_student, ["llm_training_set", "evaluation_valid", "params:training.tagger", "params:training.trainer"],
                 ["model_llm", "training_history_llm"], name="train_model_llm"),
            node(evaluate_student, ["model_gold", "evaluation_valid", "evaluation_test", "params:training.trainer"],
                 "metrics_gold", name="evaluate_model_gold"),
            node(evaluate_student, ["model_llm", "evaluation_valid", "evaluation_test", "params:training.trainer"],
                 "metrics_llm", name="evaluate_model_llm"),
            node(compare_students, ["metrics_gold", "metrics_llm"], "student_comparison", name="compare_students"),
            node(learning_curve_runs,
                 ["train_sentences", "evaluation_valid", "evaluation_test", "params:training.tagger",
                  "params:training.learning_curve"],
                 "learning_curve_runs", name="run_learning_curve"),
            node(learning_curve_summary, "learning_curve_runs", "learning_curve", name="summarise_learning_curve"),
            node(learning_curve_plot, "learning_curve", "learning_curve_plot", name="plot_learning_curve"),
            node(entity_examples_html, ["model_gold", "test_sentences", "params:training.examples"],
                 "entity_examples_html", name="render_entity_examples"),
        ]
    )
