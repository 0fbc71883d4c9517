"""label_quality (side study, issue 24): the study's routes on LLM labels of chosen quality, simulated
from the real labeller's errors (llm_ner.llm.simulated) -- test F1 against label F1 per route, and
the label F1 from which the LLM routes beat all-expert at equal gold."""

from kedro.pipeline import Pipeline, node

from llm_ner.label_quality import run_map
from llm_ner.pipelines import stage, student_setup_node
from llm_ner.report.plots import label_quality_plot

from .nodes import draw_gold_sentences, measure_labeller, simulate_levels, summarise_label_quality


def create_pipeline(**kwargs) -> Pipeline:
    return stage(
        "label_quality",
        [
            node(
                measure_labeller,
                ["llm_labels", "train_sentences", "params:label_quality", "params:entity_types"],
                ["labeller_profile", "labeller_profile_summary"],
                name="measure_labeller_profile",
            ),
            node(
                simulate_levels,
                ["llm_labels", "labeller_profile", "params:label_quality"],
                ["label_quality_levels", "label_quality_level_table"],
                name="simulate_label_quality_levels",
            ),
            node(
                draw_gold_sentences,
                ["train_sentences", "llm_labels", "params:label_quality"],
                "label_quality_gold",
                name="draw_gold_sentences",
            ),
            student_setup_node("label_quality"),
            node(
                run_map,
                ["label_quality_levels", "label_quality_gold", "params:label_quality", "label_quality_student_setup"],
                "label_quality_runs",
                name="run_label_quality_map",
            ),
            node(
                summarise_label_quality,
                ["label_quality_runs", "params:cost_model"],
                ["label_quality_map", "label_quality_crossover"],
                name="summarise_label_quality_map",
            ),
            node(
                label_quality_plot,
                ["label_quality_map", "label_quality_level_table", "params:label_quality"],
                "label_quality_plot",
                name="plot_label_quality_map",
            ),
        ],
    )
