"""own_text: the labelling route on a folder of your own documents, no gold anywhere.

Its own pipeline (not conditionals threaded through the study's six): documents -> sentences ->
evaluation / labeller / pool -> people label the evaluation set, then the labeller set -> the LLM
labels the pool -> people correct the budget -> students -> exports and a page. It reuses the
study's parts where they fit: the shared ``configure_llm_access`` and ``join_settings`` nodes,
the LLM study's ``score_pairs`` and ``label_with_labeller`` (what llm_annotation's markup-quality
and labelling nodes run), mixed_annotation's selections and out-of-fold label quality, the
regimens, the students' protocol and the grid."""

from kedro.pipeline import Pipeline, node

from llm_ner.pipelines import join_settings, llm_access_node, stage

from .nodes import (
    budget_labels,
    choose_budget,
    choose_own_labeller,
    choose_parts,
    count_sentences,
    cut_sentences,
    define_setup,
    evaluation_labels,
    evaluation_tasks,
    export_labels,
    gather_people_labels,
    label_with_llm,
    labeller_labels,
    labeller_tasks,
    llm_cost,
    measure_quality,
    people_tasks,
    price_people,
    summarise_route,
    train_students,
)

SETUP, CREDENTIALS = "own_text_setup", "label_studio_credentials"


def _sentences() -> Pipeline:
    """Documents -> sentences that fit the encoder -> evaluation, labeller and pool parts."""
    return Pipeline(
        [
            node(
                define_setup,
                ["params:own_text", "params:student", "params:entity_types", "params:grid"],
                SETUP,
                name="define_setup",
            ),
            node(
                cut_sentences,
                ["own_text_documents", SETUP],
                ["own_text_sentences", "own_text_document_counts"],
                name="cut_sentences",
            ),
            node(choose_parts, ["own_text_sentences", SETUP], "own_text_parts", name="choose_parts"),
        ]
    )


def _people_first() -> Pipeline:
    """The evaluation set, then the labeller set: tasks saved, then a stop until people have labelled them."""
    return Pipeline(
        [
            node(evaluation_tasks, ["own_text_parts", SETUP], "own_text_evaluation_tasks", name="evaluation_tasks"),
            node(
                evaluation_labels,
                ["own_text_evaluation_tasks", "own_text_parts", SETUP, CREDENTIALS],
                "own_text_evaluation_labels",
                name="collect_evaluation_labels",
            ),
            node(
                labeller_tasks,
                ["own_text_parts", "own_text_evaluation_labels"],
                "own_text_labeller_tasks",
                name="labeller_tasks",
            ),
            node(
                labeller_labels,
                ["own_text_labeller_tasks", "own_text_parts", SETUP, CREDENTIALS],
                "own_text_labeller_labels",
                name="collect_labeller_labels",
            ),
        ]
    )


def _llm() -> Pipeline:
    """The labeller (chosen on the labeller set, or as configured) labels the pool and the evaluation set."""
    return Pipeline(
        [
            llm_access_node("own_text_llm_access"),
            node(
                join_settings,
                ["params:llm_annotation", "params:llm_prompts", "params:entity_types", "own_text_llm_access"],
                "own_text_llm_settings",
                name="join_llm_settings",
            ),
            node(
                choose_own_labeller,
                ["own_text_parts", "own_text_labeller_labels", "own_text_llm_settings"],
                ["own_text_markup_quality", "own_text_labeller", "own_text_labelling_settings"],
                name="choose_labeller",
            ),
            node(
                label_with_llm,
                ["own_text_parts", "own_text_labeller_labels", "own_text_labelling_settings"],
                ["own_text_llm_labels", "own_text_llm_spend"],
                name="label_with_llm",
            ),
        ]
    )


def _budget() -> Pipeline:
    """The pool sentences people correct, chosen by a strategy; a stop until they have. Then every
    set people labelled, in one table."""
    return Pipeline(
        [
            node(choose_budget, ["own_text_llm_labels", SETUP], "own_text_budget_selection", name="choose_budget"),
            node(people_tasks, "own_text_budget_selection", "own_text_budget_tasks", name="budget_tasks"),
            node(
                budget_labels,
                ["own_text_budget_tasks", "own_text_budget_selection", SETUP, CREDENTIALS],
                "own_text_budget_labels",
                name="collect_budget_labels",
            ),
            node(
                gather_people_labels,
                ["own_text_evaluation_labels", "own_text_labeller_labels", "own_text_budget_labels"],
                "own_text_people_labels",
                name="gather_people_labels",
            ),
        ]
    )


def _model() -> Pipeline:
    """Students scored on the evaluation set, the recommended model, the exports."""
    return Pipeline(
        [
            node(
                train_students,
                ["own_text_llm_labels", "own_text_parts", "own_text_people_labels", SETUP],
                ["own_text_student_runs", "own_text_model"],
                name="train_students",
            ),
            node(
                export_labels,
                ["own_text_parts", "own_text_llm_labels", "own_text_people_labels", "own_text_model"],
                {
                    f"{labels}_{kind}": f"own_text_{labels}_labels_{kind}"
                    for labels in ("llm", "people", "model")
                    for kind in ("jsonl", "conll")
                },
                name="export_labels",
            ),
        ]
    )


def _page() -> Pipeline:
    """How good (with intervals), what it cost, which gold went where: the route's page."""
    return Pipeline(
        [
            node(
                measure_quality,
                ["own_text_people_labels", "own_text_llm_labels", "own_text_student_runs", SETUP],
                "own_text_quality",
                name="measure_quality",
            ),
            node(
                price_people,
                ["own_text_people_labels", "own_text_parts", "params:cost_model"],
                "own_text_gold_consumed",
                name="price_people",
            ),
            node(
                count_sentences,
                ["own_text_document_counts", "own_text_parts", "own_text_llm_spend"],
                "own_text_counts",
                name="count_sentences",
            ),
            node(
                llm_cost,
                ["own_text_llm_spend", "own_text_labeller", "own_text_llm_labels", "params:cost_model"],
                "own_text_llm_cost",
                name="llm_cost",
            ),
            node(
                summarise_route,
                ["own_text_quality", "own_text_gold_consumed", "own_text_counts", "own_text_llm_cost"],
                ["own_text_summary", "own_text_report"],
                name="summarise_route",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return stage("own_text", _sentences() + _people_first() + _llm() + _budget() + _model() + _page())
