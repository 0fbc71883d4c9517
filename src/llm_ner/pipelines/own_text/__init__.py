"""own_text: your documents in, a tagger you can trust out, with no gold anywhere (docs/own_text.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
