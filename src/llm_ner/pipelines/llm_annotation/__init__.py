"""LLM annotation: strategies x models scored on a validation sample, the best pair labels the training pool."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
