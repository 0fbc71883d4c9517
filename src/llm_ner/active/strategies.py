"""Uncertainty strategies: one score per pool sentence, higher = ask the expert first.

Every strategy reads :class:`PoolPredictions` -- one ``(n_words, n_labels)`` probability array per
sentence from the student. A row of NaN marks a word the student never saw (cut off by the
encoder's length limit): it is masked, never read as a confident ``O``. Per-word quantities are
averaged over a sentence's valid words unless a strategy says otherwise; a sentence with no valid
word scores 0.

* ``mean_token_entropy`` -- seed S0: mean over words of -sum_y p log p (natural log);
* ``least_confidence`` -- 1 - probability of the most likely tag sequence, taken greedily per word
  (the BiLSTM/linear heads have no CRF, so the greedy sequence is the most likely one);
* ``margin`` -- 1 - the smallest gap between a word's two most likely tags;
* ``mnlp`` -- Shen et al. 2017: minus the length-normalised log-probability of the greedy sequence;
* ``bald`` -- Shelmanov et al. 2021: mutual information between tags and MC-dropout passes,
  H(mean p) - mean H(p), from ``mc_samples`` (T dropout passes per sentence);
* ``random`` -- the baseline: seeded uniform scores;
* ``llm_disagreement`` -- share of words whose most likely student tag differs from the LLM's tag;
* ``llm_confidence_mix`` -- a base strategy's rank blended with the rank of (1 - LLM sentence
  confidence), weight ``llm_weight``: sentences both the student and the LLM doubt come first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_EPSILON = 1e-12


@dataclass(frozen=True)
class PoolPredictions:
    probabilities: Sequence[np.ndarray]  # per sentence (n_words, n_labels); NaN rows = masked words
    mc_samples: Sequence[np.ndarray] | None = None  # per sentence (T, n_words, n_labels), for bald
    llm_label_ids: Sequence[Sequence[int]] | None = None  # per sentence, the LLM's tag ids in the student's label order
    llm_confidence: Sequence[float] | None = None  # per sentence, from llm_annotation


def _valid(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return p[~np.isnan(p).any(axis=1)] if p.size else p.reshape(0, 0)


def _mean_per_sentence(predictions: PoolPredictions, per_word: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    scores = []
    for p in predictions.probabilities:
        valid = _valid(p)
        scores.append(float(per_word(valid).mean()) if len(valid) else 0.0)
    return np.array(scores)


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, _EPSILON, 1.0))).sum(axis=-1)


def mean_token_entropy(predictions: PoolPredictions, **_) -> np.ndarray:
    return _mean_per_sentence(predictions, _entropy)


def least_confidence(predictions: PoolPredictions, **_) -> np.ndarray:
    return np.array(
        [1.0 - float(np.prod(_valid(p).max(axis=1))) if len(_valid(p)) else 0.0 for p in predictions.probabilities]
    )


def margin(predictions: PoolPredictions, **_) -> np.ndarray:
    def smallest_gap(valid: np.ndarray) -> float:
        top = np.sort(valid, axis=1)[:, -2:]
        return float((top[:, 1] - top[:, 0]).min())

    return np.array([1.0 - smallest_gap(_valid(p)) if len(_valid(p)) else 0.0 for p in predictions.probabilities])


def mnlp(predictions: PoolPredictions, **_) -> np.ndarray:
    return _mean_per_sentence(predictions, lambda valid: -np.log(np.clip(valid.max(axis=1), _EPSILON, 1.0)))


def bald(predictions: PoolPredictions, **_) -> np.ndarray:
    if predictions.mc_samples is None:
        raise ValueError("strategy 'bald' needs MC-dropout samples (PoolPredictions.mc_samples)")
    scores = []
    for samples in predictions.mc_samples:
        samples = np.asarray(samples, dtype=np.float64)
        keep = ~np.isnan(samples).any(axis=(0, 2))
        samples = samples[:, keep]
        if not samples.shape[1]:
            scores.append(0.0)
            continue
        mutual_information = _entropy(samples.mean(axis=0)) - _entropy(samples).mean(axis=0)
        scores.append(float(mutual_information.mean()))
    return np.array(scores)


def random_scores(predictions: PoolPredictions, seed: int = 0, **_) -> np.ndarray:
    return np.random.default_rng(seed).random(len(predictions.probabilities))


def llm_disagreement(predictions: PoolPredictions, **_) -> np.ndarray:
    if predictions.llm_label_ids is None:
        raise ValueError("strategy 'llm_disagreement' needs the LLM's tags (PoolPredictions.llm_label_ids)")
    scores = []
    for p, llm_ids in zip(predictions.probabilities, predictions.llm_label_ids):
        p = np.asarray(p, dtype=np.float64)
        keep = ~np.isnan(p).any(axis=1)
        student = p.argmax(axis=1) if p.size else np.array([], dtype=int)
        scores.append(float((student[keep] != np.asarray(llm_ids)[keep]).mean()) if keep.any() else 0.0)
    return np.array(scores)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Scores -> ranks in [0, 1] (ties share a rank), so differently scaled scores can be blended."""
    if len(scores) < 2:
        return np.zeros(len(scores))
    _, inverse = np.unique(scores, return_inverse=True)
    return inverse / max(inverse.max(), 1)


def llm_confidence_mix(
    predictions: PoolPredictions, base: str = "mean_token_entropy", llm_weight: float = 0.5, **options
) -> np.ndarray:
    if predictions.llm_confidence is None or np.isnan(np.asarray(predictions.llm_confidence, dtype=float)).all():
        raise ValueError(
            "strategy 'llm_confidence_mix' needs LLM sentence confidence (llm_annotation.confidence.method)"
        )
    if not 0 <= llm_weight <= 1:
        raise ValueError(f"llm_weight must be in [0, 1], got {llm_weight!r}")
    student = STRATEGIES[base](predictions, **options)
    llm_doubt = 1.0 - np.nan_to_num(np.asarray(predictions.llm_confidence, dtype=float), nan=0.0)
    return (1 - llm_weight) * _ranks(student) + llm_weight * _ranks(llm_doubt)


STRATEGIES: dict[str, Callable[..., np.ndarray]] = {
    "mean_token_entropy": mean_token_entropy,
    "least_confidence": least_confidence,
    "margin": margin,
    "mnlp": mnlp,
    "bald": bald,
    "random": random_scores,
    "llm_disagreement": llm_disagreement,
    "llm_confidence_mix": llm_confidence_mix,
}


def score_pool(strategy: str, predictions: PoolPredictions, **options) -> np.ndarray:
    """One score per pool sentence by the strategy named ``strategy`` (a key of :data:`STRATEGIES`)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"active learning strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    return STRATEGIES[strategy](predictions, **options)
