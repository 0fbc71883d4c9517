"""serving: the gold-trained student logged with its tagging code as an MLflow model, registered by name."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
