"""inference: a folder of raw documents tagged by a trained student, entities out as JSON Lines."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
