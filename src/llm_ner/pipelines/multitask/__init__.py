"""multitask (seed S2): sentence topics by LLM, and token-only vs sequence-only vs multitask taggers."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
