"""Active learning: which sentences to ask the expert about next (Kedro-free)."""

from .strategies import STRATEGIES, PoolPredictions, score_pool

__all__ = ["STRATEGIES", "PoolPredictions", "score_pool"]
