"""data_analysis: read CoNLL-2003, keep each split as a sentence table, describe the corpus."""

from kedro.pipeline import Pipeline, node

from llm_ner.corpus import SPLITS
from llm_ner.pipelines import bound, stage

from . import nodes

SPLIT_TABLES = [f"{split}_sentences" for split in SPLITS]


def create_pipeline(**kwargs) -> Pipeline:
    prepare = [
        node(
            bound(nodes.prepare_sentence_table, split=split),
            [f"{split}_raw", "params:corpus", "params:entity_types"],
            f"{split}_sentences",
            name=f"prepare_{split}_sentences",
        )
        for split in SPLITS
    ]
    describe = [
        node(nodes.summarise_splits, SPLIT_TABLES, "corpus_summary", name="summarise_splits"),
        node(nodes.count_tags, SPLIT_TABLES, "tag_distribution", name="count_tags"),
        node(
            nodes.count_entities_per_type,
            [*SPLIT_TABLES, "params:entity_types"],
            "entities_per_type",
            name="count_entities_per_type",
        ),
        node(nodes.measure_lengths, SPLIT_TABLES, ["sentence_lengths", "entity_lengths"], name="measure_lengths"),
        node(
            nodes.measure_unseen_entities,
            [*SPLIT_TABLES, "params:entity_types"],
            "unseen_entities",
            name="measure_unseen_entities",
        ),
        node(
            nodes.plot_tag_distributions,
            ["tag_distribution", "params:data_analysis.plots"],
            "tag_distribution_plots",
            name="plot_tag_distributions",
        ),
        node(
            nodes.plot_entities_per_type, "entities_per_type", "entities_per_type_plot", name="plot_entities_per_type"
        ),
        node(
            nodes.plot_lengths,
            ["sentence_lengths", "entity_lengths", "params:data_analysis.plots"],
            "length_plots",
            name="plot_lengths",
        ),
    ]
    return stage("data_analysis", prepare + describe)
