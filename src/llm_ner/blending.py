"""Blending schedules from LLM-labelled to gold data across epochs (Huang et al. 2024, phase 3).

Each schedule maps a 0-based ``epoch`` of ``total_epochs`` to ``(w_llm, w_gold)``: the share of
the LLM-labelled set and of the gold set that epoch trains on. Formulas as in the paper
(``x = t / (T - 1)``; with one epoch, ``x = 0``):

* ``pure_llm`` (1, 0) and ``pure_gold`` (0, 1); ``all`` (1, 1) -- every sentence every epoch;
* ``simple_mix``: w_llm = 1 while t < T/2, then 0 -- LLM labels first, gold after;
* ``sigmoid`` (steepness ``k``): w_llm = 1 - 1 / (1 + exp(-k (x - 0.5)));
* ``cosine``: w_llm = 0.5 (1 + cos(pi x));
* ``power`` (rate ``n``): w_llm = 1 - x^n;

and w_gold = 1 - w_llm except for ``all``. :func:`epoch_sentences` turns weights into an epoch's
data: a seeded sample of round(w_llm |LLM set|) LLM-labelled and round(w_gold |gold set|) gold
sentences, the way the paper blends (weighting the loss instead is not what it measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from .sampling import derive_seed, seeded_order

Weights = tuple[float, float]
T = TypeVar("T")


def _x(epoch: int, total_epochs: int) -> float:
    if not 0 <= epoch < total_epochs:
        raise ValueError(f"epoch must be in [0, {total_epochs}), got {epoch!r}")
    return epoch / (total_epochs - 1) if total_epochs > 1 else 0.0


def _complement(w_llm: float) -> Weights:
    return w_llm, 1.0 - w_llm


def pure_llm(epoch: int, total_epochs: int) -> Weights:
    _x(epoch, total_epochs)
    return 1.0, 0.0


def pure_gold(epoch: int, total_epochs: int) -> Weights:
    _x(epoch, total_epochs)
    return 0.0, 1.0


def all_data(epoch: int, total_epochs: int) -> Weights:
    _x(epoch, total_epochs)
    return 1.0, 1.0


def simple_mix(epoch: int, total_epochs: int) -> Weights:
    _x(epoch, total_epochs)
    return _complement(1.0 if epoch < total_epochs / 2 else 0.0)


def sigmoid(epoch: int, total_epochs: int, k: float = 8.0) -> Weights:
    return _complement(1.0 - 1.0 / (1.0 + math.exp(-k * (_x(epoch, total_epochs) - 0.5))))


def cosine(epoch: int, total_epochs: int) -> Weights:
    return _complement(0.5 * (1.0 + math.cos(math.pi * _x(epoch, total_epochs))))


def power(epoch: int, total_epochs: int, n: float = 1.0) -> Weights:
    if n <= 0:
        raise ValueError(f"power schedule: n must be > 0, got {n!r}")
    return _complement(1.0 - _x(epoch, total_epochs) ** n)


SCHEDULES: dict[str, Callable[..., Weights]] = {
    "pure_llm": pure_llm,
    "pure_gold": pure_gold,
    "simple_mix": simple_mix,
    "sigmoid": sigmoid,
    "cosine": cosine,
    "power": power,
    "all": all_data,
}


def schedule_weights(name: str, total_epochs: int, **params: float) -> list[Weights]:
    """``(w_llm, w_gold)`` for every epoch of schedule ``name`` (a key of :data:`SCHEDULES`)."""
    if name not in SCHEDULES:
        raise ValueError(f"blending schedule must be one of {sorted(SCHEDULES)}, got {name!r}")
    return [SCHEDULES[name](epoch, total_epochs, **params) for epoch in range(total_epochs)]


def epoch_sentences(llm_set: Sequence[T], gold_set: Sequence[T], weights: Weights, seed: int) -> list[T]:
    """One epoch's training data: seeded samples of round(w_llm |llm_set|) and round(w_gold |gold_set|)."""
    w_llm, w_gold = weights
    llm_order, gold_order = seeded_order(len(llm_set), seed), seeded_order(len(gold_set), derive_seed(seed, "gold"))
    return [llm_set[i] for i in llm_order[: round(w_llm * len(llm_set))]] + [
        gold_set[i] for i in gold_order[: round(w_gold * len(gold_set))]
    ]
