from kedro.pipeline import Pipeline, node

from llm_ner.pipelines import stage

from .nodes import register_tagger


def create_pipeline(**kwargs) -> Pipeline:
    return stage(
        "serving",
        [
            # the served model cuts text as the inference pipeline does: the same spans for the same text
            node(
                register_tagger,
                ["model_gold", "params:inference.tagging", "params:serving"],
                "served_model",
                name="register_tagger",
            ),
        ],
    )
