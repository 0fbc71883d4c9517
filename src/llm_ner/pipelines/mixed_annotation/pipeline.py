"""mixed_annotation: LLM-only student, expert budget sweeps (one namespaced pipeline per mode), model_init,
and Huang's LLM -> gold blending schedules."""

from kedro.pipeline import Pipeline, node, pipeline

from llm_ner.pipelines import bound, stage, student_setup_node
from llm_ner.report.plots import budget_curve

from .experts import (
    choose_sentences_for_experts,
    collect_label_studio_export,
    expert_label_table,
    export_label_studio_tasks,
    import_expert_labels,
    pool_with_expert_labels,
    train_on_expert_labels,
)
from .nodes import (
    blending_weights_plot,
    budget_table,
    build_regimen_sets,
    choose_init_budget,
    design_budget_sweep,
    expert_candidates,
    import_regimen_extra,
    mixing_pool,
    reference_students,
    run_blending,
    run_budget_sweep,
    run_regimens,
    runs_table,
    sample_expert_set,
    score_label_quality,
    train_llm_pure,
    train_model_init,
)

SWEEPS = ("add", "correct")  # S0's setting: the expert labels new sentences | the practitioner's: re-labels pool ones
SETUP = "mixed_annotation_student_setup"
SHARED = {"mixing_pool", "expert_candidates", "model_llm_pure", "reference_students", "llm_gold_usage", SETUP}


def budget_sweep_pipeline(mode: str) -> Pipeline:
    """One expert budget sweep (``mixed_annotation.sweeps.<mode>``): every budget x strategy x fold,
    its table and its curve."""
    return pipeline(
        [
            node(
                bound(design_budget_sweep, mode=mode),
                ["params:mixed_annotation", "model_llm_pure"],
                "sweep",
                name="design_budget_sweep",
            ),
            node(
                run_budget_sweep,
                ["mixing_pool", "expert_candidates", "sweep", SETUP],
                "budget_runs",
                name="run_budget_sweep",
            ),
            node(budget_table, ["budget_runs", "llm_gold_usage"], "budget_table", name="summarise_budget_sweep"),
            node(budget_curve, ["budget_table", "reference_students"], "budget_curve", name="plot_budget_curve"),
        ]
    )


def _budget_sweeps() -> Pipeline:
    """One budget sweep per mode, each in its own namespace, sharing the pool and the references."""
    return sum(
        pipeline(
            budget_sweep_pipeline(mode),
            namespace=f"mixed_annotation.{mode}",
            inputs=SHARED,
            parameters={"params:mixed_annotation": "params:mixed_annotation"},
        )
        for mode in SWEEPS
    )


def _llm_only_and_references() -> Pipeline:
    """What every sweep and regimen shares: the expert candidates, the LLM-only student, the pool's
    label quality and the reference students."""
    return pipeline(
        [
            student_setup_node("mixed_annotation"),
            node(
                expert_candidates,
                ["train_sentences", "llm_labels", "llm_demonstration_pool"],
                "expert_candidates",
                name="list_expert_candidates",
            ),
            node(
                train_llm_pure,
                ["llm_labels", "params:mixed_annotation", SETUP],
                "model_llm_pure",
                name="train_model_llm_pure",
            ),
            node(
                score_label_quality,
                ["llm_labels", "params:mixed_annotation", SETUP],
                "llm_label_quality",
                name="score_llm_label_quality",
            ),
            node(mixing_pool, ["llm_labels", "llm_label_quality"], "mixing_pool", name="build_mixing_pool"),
            node(
                reference_students,
                ["mixing_pool", "model_llm_pure", "params:mixed_annotation", SETUP],
                "reference_students",
                name="score_reference_students",
            ),
        ]
    )


def _model_init() -> Pipeline:
    """model_init: the start model of active learning, at the budget the sweeps recommend."""
    return pipeline(
        [
            node(
                choose_init_budget,
                [
                    "mixed_annotation.add.budget_table",
                    "mixed_annotation.correct.budget_table",
                    "params:mixed_annotation",
                ],
                "model_init_budget",
                name="choose_model_init_budget",
            ),
            node(
                train_model_init,
                ["mixing_pool", "expert_candidates", "model_init_budget", SETUP],
                ["model_init", "model_init_training_set"],
                name="train_model_init",
            ),
        ]
    )


def _regimens_and_blends() -> Pipeline:
    """Huang et al.: the pool's LLM labels beside an expert set, in which order and blend."""
    return pipeline(
        [
            node(
                sample_expert_set,
                ["expert_candidates", "params:mixed_annotation"],
                "expert_set",
                name="sample_expert_set",
            ),
            node(
                import_regimen_extra,
                ["train_sentences", "params:mixed_annotation", "params:entity_types"],
                "regimen_extra_import",
                name="import_regimen_extra_labels",
            ),
            node(
                build_regimen_sets,
                ["mixing_pool", "expert_set", "regimen_extra_import", "params:mixed_annotation"],
                "regimen_sets",
                name="build_regimen_sets",
            ),
            node(
                run_regimens,
                ["regimen_sets", "params:mixed_annotation", SETUP],
                "regimen_runs",
                name="run_training_regimens",
            ),
            node(runs_table, "regimen_runs", "regimen_table", name="summarise_training_regimens"),
            node(
                run_blending,
                ["mixing_pool", "expert_set", "params:mixed_annotation", SETUP],
                "blending_runs",
                name="run_blending_schedules",
            ),
            node(runs_table, "blending_runs", "blending_table", name="summarise_blending_schedules"),
            node(
                blending_weights_plot,
                ["params:mixed_annotation", "params:student"],
                "blending_weights",
                name="plot_blending_schedules",
            ),
        ]
    )


def _people_in_label_studio() -> Pipeline:
    """The expert step with people in Label Studio (docs/label_studio.md)."""
    return pipeline(
        [
            node(
                choose_sentences_for_experts,
                ["mixing_pool", "params:label_studio", "params:mixed_annotation.seed"],
                "expert_selection",
                name="choose_sentences_for_experts",
            ),
            node(
                export_label_studio_tasks,
                ["expert_selection", "params:entity_types"],
                ["label_studio_tasks", "label_studio_config"],
                name="export_label_studio_tasks",
            ),
            node(
                collect_label_studio_export,
                ["label_studio_tasks", "label_studio_config", "params:label_studio", "label_studio_credentials"],
                "label_studio_export",
                name="collect_label_studio_export",
            ),
            node(
                import_expert_labels,
                ["label_studio_export", "expert_selection", "params:label_studio", "params:entity_types"],
                ["expert_labels", "expert_label_summary"],
                name="import_expert_labels",
            ),
            node(
                pool_with_expert_labels,
                ["mixing_pool", "expert_labels", "params:mixed_annotation"],
                "pool_with_expert_labels",
                name="correct_pool_with_expert_labels",
            ),
            node(
                train_on_expert_labels,
                ["pool_with_expert_labels", "params:label_studio", SETUP],
                "expert_label_runs",
                name="train_on_expert_labels",
            ),
            node(
                expert_label_table,
                ["expert_label_runs", "expert_labels"],
                "expert_label_table",
                name="summarise_expert_labels",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    stages = _llm_only_and_references() + _model_init() + _regimens_and_blends() + _people_in_label_studio()
    # the sweeps are namespaced mixed_annotation.<mode> already: their own groups inside the stage
    return stage("mixed_annotation", stages) + _budget_sweeps()
