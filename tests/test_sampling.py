"""Seeded sampling: reproducible, nested, disjoint where it must be."""

import pandas as pd
import pytest

from llm_ner.sampling import k_fold_parts, seeded_order, seeded_sample, seeded_shuffle, share_count

TABLE = pd.DataFrame({"sentence_id": range(100), "tokens": [["w"]] * 100})


def test_samples_are_reproducible_nested_and_in_corpus_order():
    small, large = seeded_sample(TABLE, 10, seed=3), seeded_sample(TABLE, 30, seed=3)
    assert small.equals(seeded_sample(TABLE, 10, seed=3)) and not small.equals(seeded_sample(TABLE, 10, seed=4))
    assert set(small["sentence_id"]) <= set(large["sentence_id"])  # one seed: nested sizes
    assert small["sentence_id"].is_monotonic_increasing
    # the first k rows of a shuffle are what pandas' own sample(n=k) draws
    assert set(seeded_shuffle(TABLE, 3).head(10)["sentence_id"]) == set(
        TABLE.sample(n=10, random_state=3)["sentence_id"]
    )
    assert sorted(seeded_order(100, 3)) == list(range(100))
    assert len(seeded_sample(TABLE, 500, seed=0)) == 100  # all of them if fewer


def test_exclusion_shares_and_bad_sizes():
    excluded = seeded_sample(TABLE, 40, seed=1)
    assert not set(seeded_sample(TABLE, 50, seed=2, exclude=excluded)["sentence_id"]) & set(excluded["sentence_id"])
    assert share_count(0.2, 60, "x") == 12 and share_count(0.001, 60, "x") == 1
    with pytest.raises(ValueError, match=r"x must be in \(0, 1\)"):
        share_count(1.0, 60, "x")
    with pytest.raises(ValueError, match="sample size must be a non-negative integer"):
        seeded_sample(TABLE, -1, seed=0)


def test_k_fold_parts_are_disjoint_and_cover_the_table():
    parts = k_fold_parts(TABLE.head(23), 5, seed=7)
    ids = [set(p["sentence_id"]) for p in parts]
    assert sorted(len(p) for p in parts) == [4, 4, 5, 5, 5]
    assert set().union(*ids) == set(range(23)) and sum(len(i) for i in ids) == 23
    with pytest.raises(ValueError, match="k must be an integer"):
        k_fold_parts(TABLE.head(3), 5, seed=0)
