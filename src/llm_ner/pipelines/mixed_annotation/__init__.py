"""mixed_annotation: expert budget sweeps on top of LLM labels, and the model_init that active learning starts from."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
