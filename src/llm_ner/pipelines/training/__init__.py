"""`training`: gold-trained vs LLM-trained students, their comparison, a learning curve, and examples."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
