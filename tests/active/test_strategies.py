"""Uncertainty strategies on hand-made probability arrays."""

import math

import numpy as np
import pytest

from llm_ner.active import PoolPredictions, score_pool

SURE = np.array([[1.0, 0.0], [0.0, 1.0]])
COIN_AND_SURE = np.array([[0.5, 0.5], [1.0, 0.0]])
LEANING = np.array([[0.9, 0.1], [0.8, 0.2]])


def scores(strategy, *sentences, seed=0, **kwargs):
    return score_pool(strategy, PoolPredictions(list(sentences), **kwargs), seed=seed)


def test_mean_token_entropy_is_s0s_formula():
    assert scores("mean_token_entropy", COIN_AND_SURE)[0] == pytest.approx(math.log(2) / 2)  # ≈ 0.3466
    assert scores("mean_token_entropy", SURE)[0] == pytest.approx(0.0)


def test_masked_words_are_ignored_not_read_as_confident():
    truncated = np.array([[0.5, 0.5], [np.nan, np.nan]])  # second word cut off by the encoder
    assert scores("mean_token_entropy", truncated)[0] == pytest.approx(math.log(2))
    assert scores("mean_token_entropy", np.full((2, 2), np.nan))[0] == 0.0


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("least_confidence", [0.0, 0.5, 1 - 0.9 * 0.8]),
        ("margin", [0.0, 1.0, 1 - 0.6]),
        ("mnlp", [0.0, math.log(2) / 2, -(math.log(0.9) + math.log(0.8)) / 2]),
    ],
)
def test_confidence_based_strategies(strategy, expected):
    assert scores(strategy, SURE, COIN_AND_SURE, LEANING) == pytest.approx(expected)


def test_bald_is_disagreement_between_dropout_passes():
    agreeing = np.stack([COIN_AND_SURE, COIN_AND_SURE])  # uncertain but consistent: no mutual information
    disagreeing = np.stack([SURE, SURE[:, ::-1]])  # each pass sure, passes disagree: ln 2 per word
    result = scores("bald", SURE, SURE, mc_samples=[agreeing, disagreeing])
    assert result == pytest.approx([0.0, math.log(2)])
    with pytest.raises(ValueError, match="MC-dropout samples"):
        scores("bald", SURE)


def test_random_llm_disagreement_and_the_mix():
    assert (scores("random", SURE, SURE, SURE, seed=1) == scores("random", SURE, SURE, SURE, seed=1)).all()
    assert not (scores("random", SURE, SURE, SURE, seed=1) == scores("random", SURE, SURE, SURE, seed=2)).all()
    assert scores("llm_disagreement", SURE, SURE, llm_label_ids=[[0, 1], [1, 1]]) == pytest.approx([0.0, 0.5])
    # equal student uncertainty: the sentence the LLM doubted comes first
    mixed = scores("llm_confidence_mix", LEANING, LEANING, llm_confidence=[0.9, 0.2])
    assert mixed[1] > mixed[0]
    with pytest.raises(ValueError, match="must be one of"):
        scores("vibes", SURE)
