"""Blending schedules: the paper's formulas at known points, and an epoch's data."""

import math

import pytest

from llm_ner.blending import SCHEDULES, epoch_sentences, schedule_weights


def w_llm(name, total=5, **params):
    return [round(w[0], 4) for w in schedule_weights(name, total, **params)]


def test_schedules_at_known_points():
    assert w_llm("pure_llm") == [1.0] * 5 and w_llm("pure_gold") == [0.0] * 5
    assert w_llm("simple_mix", 4) == [1.0, 1.0, 0.0, 0.0] and w_llm("simple_mix", 5) == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert w_llm("cosine") == [1.0, 0.8536, 0.5, 0.1464, 0.0]
    assert w_llm("power", n=1) == [1.0, 0.75, 0.5, 0.25, 0.0] and w_llm("power", n=2)[1] == 1 - 0.25**2
    k = 8
    assert w_llm("sigmoid", k=k)[2] == 0.5 and w_llm("sigmoid", k=k)[0] == round(1 - 1 / (1 + math.exp(k * 0.5)), 4)
    assert schedule_weights("all", 3) == [(1.0, 1.0)] * 3
    for name in SCHEDULES:  # every schedule but `all` splits one unit between the two sets
        if name != "all":
            assert all(a + b == pytest.approx(1.0) for a, b in schedule_weights(name, 6))
    assert schedule_weights("cosine", 1) == [(1.0, 0.0)]  # one epoch: x = 0


def test_epoch_sentences_and_bad_names():
    llm, gold = [f"llm{i}" for i in range(10)], [f"gold{i}" for i in range(4)]
    mixed = epoch_sentences(llm, gold, (0.5, 0.5), seed=1)
    assert sum(s.startswith("llm") for s in mixed) == 5 and sum(s.startswith("gold") for s in mixed) == 2
    assert mixed == epoch_sentences(llm, gold, (0.5, 0.5), seed=1) != epoch_sentences(llm, gold, (0.5, 0.5), seed=2)
    assert epoch_sentences(llm, gold, (1.0, 1.0), seed=0).__len__() == 14
    with pytest.raises(ValueError, match="blending schedule must be one of"):
        schedule_weights("linear", 3)
    with pytest.raises(ValueError, match="n must be > 0"):
        schedule_weights("power", 3, n=0)
