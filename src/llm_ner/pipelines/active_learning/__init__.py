"""active_learning: S0's loop from model_init, every uncertainty strategy against random."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
