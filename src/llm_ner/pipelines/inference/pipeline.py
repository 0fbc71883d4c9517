from kedro.pipeline import Pipeline, node

from llm_ner.pipelines import stage

from .nodes import count_statuses, load_tagger, tag_documents


def create_pipeline(**kwargs) -> Pipeline:
    return stage(
        "inference",
        [
            node(load_tagger, ["params:inference", "params:entity_types"], "inference_tagger", name="load_tagger"),
            node(
                tag_documents,
                ["inference_documents", "inference_tagger", "params:inference"],
                "tagged_documents",
                name="tag_documents",
            ),
            node(count_statuses, "tagged_documents", "inference_status_counts", name="count_statuses"),
        ],
    )
