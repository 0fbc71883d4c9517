"""reporting: the money of every labelled set the study produced, the frontier, and the report.

Its inputs are the other pipelines' outputs; one whose pipeline has not run loads as None
(``llm_ner.hooks.ReportInputs``) and its report section says "not run"."""

from kedro.pipeline import Pipeline, node, pipeline

from llm_ner.pipelines import stage
from llm_ner.report.plots import frontier_plot
from llm_ner.report.sections import (
    active_learning_section,
    budget_section,
    corpus_section,
    costs_section,
    examples_section,
    expert_labels_section,
    label_quality_section,
    markup_section,
    multitask_section,
    regimens_section,
    spend_table,
    students_section,
    topics_section,
)
from llm_ner.report.summary import summary_lines

from .nodes import (
    cost_active_learning_routes,
    cost_budget_routes,
    cost_expert_and_llm_routes,
    cost_regimen_routes,
    cost_to_target,
    label_prices,
    labelled_set_costs,
    labeller_costs,
    page_sections,
    price_llm_labels,
    render_report,
    student_protocol,
)

REPORT = "report"
REPORT_RUN = "report_run"  # environment, command and input provenance, set by llm_ner.hooks.ReportInputs
SECTIONS = [
    "corpus_section",
    "markup_section",
    "students_section",
    "budget_section",
    "expert_labels_section",
    "regimens_section",
    "active_learning_section",
    "topics_section",
    "multitask_section",
    "label_quality_section",
    "costs_section",
    "examples_section",
]  # in page order


def gather_sections(names: list[str], output: str) -> list:
    """Nodes that collect the sections ``names`` into one list (``output``), four at a time."""
    parts = [names[i : i + 4] for i in range(0, len(names), 4)]
    if len(parts) == 1:
        return [node(page_sections, names, output, name=f"gather_{output}")]
    chunks = [f"{output}_{i + 1}" for i in range(len(parts))]
    return [
        node(page_sections, part, chunk, name=f"gather_{chunk}") for part, chunk in zip(parts, chunks)
    ] + gather_sections(chunks, output)


def _prices() -> Pipeline:
    """What a label costs: the LLM's per labelled set (and per labeller), an expert's per sentence."""
    return pipeline(
        [
            node(
                price_llm_labels,
                ["llm_spend", "llm_gold_usage", "markup_quality", "params:llm_models"],
                "llm_labelled_set",
                name="price_llm_labels",
            ),
            node(
                label_prices,
                ["llm_labelled_set", "corpus_summary", "params:cost_model"],
                "label_prices",
                name="define_label_prices",
            ),
            node(
                labeller_costs,
                ["markup_quality", "params:llm_models", "label_prices"],
                "labeller_costs",
                name="compare_labeller_costs",
            ),
        ]
    )


def _route_costs() -> Pipeline:
    """The money and gold of every labelled set the study produced: one table, its frontier and the
    cheapest route to each target."""
    return pipeline(
        [
            node(
                cost_expert_and_llm_routes,
                ["learning_curve", "reference_students", "mixing_pool", "label_prices"],
                "expert_and_llm_route_costs",
                name="cost_expert_and_llm_routes",
            ),
            node(
                cost_budget_routes,
                [
                    "mixed_annotation.add.budget_table",
                    "mixed_annotation.correct.budget_table",
                    "expert_label_table",
                    "label_prices",
                ],
                "budget_route_costs",
                name="cost_budget_routes",
            ),
            node(
                cost_regimen_routes,
                ["regimen_table", "blending_table", "expert_set", "label_prices"],
                "regimen_route_costs",
                name="cost_regimen_routes",
            ),
            node(
                cost_active_learning_routes,
                ["active_learning_history", "model_init_training_set", "label_prices"],
                "active_learning_route_costs",
                name="cost_active_learning_routes",
            ),
            node(
                labelled_set_costs,
                [
                    "expert_and_llm_route_costs",
                    "budget_route_costs",
                    "regimen_route_costs",
                    "active_learning_route_costs",
                ],
                "labelled_set_costs",
                name="collect_labelled_set_costs",
            ),
            node(
                cost_to_target,
                ["labelled_set_costs", "reference_students", "params:reporting"],
                "cost_to_target",
                name="find_cheapest_route_to_targets",
            ),
            node(frontier_plot, "labelled_set_costs", "cost_frontier_plot", name="plot_cost_frontier"),
        ]
    )


def _study_sections() -> Pipeline:
    """The sections of the source studies: corpus, LLM markup, students, budgets, expert labels, regimens."""
    return pipeline(
        [
            node(
                corpus_section,
                ["corpus_summary", "entities_per_type", "unseen_entities"],
                "corpus_section",
                name="corpus_section",
            ),
            node(
                spend_table,
                ["llm_spend", "topic_spend", "topic_agreement"],
                "llm_spend_table",
                name="tabulate_llm_spend",
            ),
            node(
                markup_section,
                ["markup_quality", "llm_spend", "labeller_costs", "params:llm_annotation"],
                "markup_section",
                name="markup_section",
            ),
            node(
                student_protocol,
                ["params:student", "params:entity_types"],
                "student_protocol",
                name="describe_student_protocol",
            ),
            node(
                students_section,
                ["student_comparison", "learning_curve", "params:training", "student_protocol"],
                "students_section",
                name="students_section",
            ),
            node(
                budget_section,
                [
                    "mixed_annotation.add.budget_table",
                    "mixed_annotation.correct.budget_table",
                    "reference_students",
                    "params:mixed_annotation",
                ],
                "budget_section",
                name="budget_section",
            ),
            node(
                expert_labels_section,
                ["expert_label_table", "expert_label_summary", "params:label_studio", "label_prices"],
                "expert_labels_section",
                name="expert_labels_section",
            ),
            node(
                regimens_section,
                ["regimen_table", "blending_table", "params:mixed_annotation"],
                "regimens_section",
                name="regimens_section",
            ),
        ]
    )


def _beyond_sections() -> Pipeline:
    """The sections that go beyond them: active learning, topics, multitask, label quality, costs, examples."""
    return pipeline(
        [
            node(
                active_learning_section,
                [
                    "active_learning_history",
                    "active_learning_comparison",
                    "model_init_budget",
                    "params:active_learning",
                ],
                "active_learning_section",
                name="active_learning_section",
            ),
            node(topics_section, ["topic_distribution", "topic_agreement"], "topics_section", name="topics_section"),
            node(
                multitask_section,
                ["multitask_comparison", "topic_confusion", "params:multitask"],
                "multitask_section",
                name="multitask_section",
            ),
            node(
                label_quality_section,
                ["label_quality_map", "label_quality_crossover", "label_quality_level_table", "params:label_quality"],
                "label_quality_section",
                name="label_quality_section",
            ),
            node(
                costs_section,
                ["labelled_set_costs", "cost_to_target", "llm_spend_table", "params:cost_model"],
                "costs_section",
                name="costs_section",
            ),
            node(examples_section, "entity_examples_html", "examples_section", name="examples_section"),
        ]
    )


def _page() -> Pipeline:
    """The page: the answer in a few lines, then every section in page order."""
    return pipeline(
        [
            node(
                summary_lines,
                ["labelled_set_costs", "cost_to_target", "reference_students", "llm_spend"],
                "report_summary",
                name="summarise_answer",
            ),
            *gather_sections(SECTIONS, "report_sections"),
            node(render_report, ["report_summary", REPORT_RUN, "report_sections"], REPORT, name="render_report"),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return stage("reporting", _prices() + _route_costs() + _study_sections() + _beyond_sections() + _page())
