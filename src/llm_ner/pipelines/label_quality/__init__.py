"""label_quality (side study): the study's routes at simulated LLM labels of chosen quality -- the map."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
