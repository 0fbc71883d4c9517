"""reporting: every labelled set's cost and F1, the F1-vs-$ frontier, and one HTML report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
