from kedro.pipeline import Pipeline, node, pipeline

from llm_ner.pipelines import stage, student_setup_node
from llm_ner.report.plots import learning_curve_plot

from .nodes import (
    compare_students,
    entity_examples_html,
    evaluate_student,
    evaluation_samples,
    gold_label_usage,
    learning_curve_runs,
    learning_curve_summary,
    model_selection_sets,
    sentences_not_in,
    student_gold_labels,
    student_training_sets,
    students_own_gold_usage,
    train_model,
)


def _evaluation_and_training_sets() -> Pipeline:
    """The students' training sets, the sentences they are scored on, and what picks their epoch."""
    return pipeline(
        [
            node(
                student_training_sets,
                ["llm_labels", "params:training", "params:entity_types"],
                ["gold_training_set", "llm_training_set", "llm_validation_sample"],
                name="split_student_training_sets",
            ),
            node(
                sentences_not_in,
                ["valid_sentences", "llm_quality_sample"],
                "valid_sentences_unseen_by_llm_choice",
                name="exclude_llm_quality_sample",
            ),
            node(
                evaluation_samples,
                ["valid_sentences_unseen_by_llm_choice", "test_sentences", "params:training"],
                ["evaluation_samples", "gold_validation_sample"],
                name="sample_evaluation_sentences",
            ),
            node(
                model_selection_sets,
                ["params:training", "gold_validation_sample", "llm_validation_sample"],
                ["selection_set_gold", "selection_set_llm"],
                name="choose_model_selection_sets",
            ),
        ]
    )


def _gold_and_llm_students() -> Pipeline:
    """The student on gold labels and the one on LLM labels, trained and scored alike."""
    return pipeline(
        [
            node(
                train_model,
                ["gold_training_set", "selection_set_gold", "training_student_setup"],
                ["model_gold", "training_history_gold"],
                name="train_model_gold",
            ),
            node(
                train_model,
                ["llm_training_set", "selection_set_llm", "training_student_setup"],
                ["model_llm", "training_history_llm"],
                name="train_model_llm",
            ),
            node(
                evaluate_student,
                ["model_gold", "evaluation_samples", "params:student", "params:entity_types"],
                "metrics_gold",
                name="evaluate_model_gold",
            ),
            node(
                evaluate_student,
                ["model_llm", "evaluation_samples", "params:student", "params:entity_types"],
                "metrics_llm",
                name="evaluate_model_llm",
            ),
        ]
    )


def _gold_accounting() -> Pipeline:
    """Every gold label the two students consumed, charged beside their scores."""
    return pipeline(
        [
            node(
                students_own_gold_usage,
                ["gold_training_set", "selection_set_gold", "selection_set_llm", "params:training"],
                "students_own_gold_usage",
                name="count_students_own_gold",
            ),
            node(
                gold_label_usage,
                ["students_own_gold_usage", "evaluation_samples", "llm_gold_usage"],
                "gold_label_usage",
                name="count_gold_label_usage",
            ),
            node(student_gold_labels, "gold_label_usage", "student_gold_labels", name="charge_gold_to_students"),
            node(
                compare_students,
                ["metrics_gold", "metrics_llm", "student_gold_labels"],
                "student_comparison",
                name="compare_students",
            ),
        ]
    )


def _learning_curve() -> Pipeline:
    """The gold-only learning curve (one grid cell per size and fold), and the gold student's examples."""
    return pipeline(
        [
            student_setup_node("training"),
            node(
                learning_curve_runs,
                ["train_sentences", "params:training", "training_student_setup"],
                "learning_curve_runs",
                name="run_learning_curve",
            ),
            node(learning_curve_summary, "learning_curve_runs", "learning_curve", name="summarise_learning_curve"),
            node(learning_curve_plot, "learning_curve", "learning_curve_plot", name="plot_learning_curve"),
            node(
                entity_examples_html,
                ["model_gold", "test_sentences", "params:training"],
                "entity_examples_html",
                name="render_entity_examples",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return stage(
        "training",
        _evaluation_and_training_sets() + _gold_and_llm_students() + _gold_accounting() + _learning_curve(),
    )
