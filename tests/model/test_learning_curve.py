import dataclasses

import pytest

from llm_ner.model.learning_curve import learning_curve, summarise_learning_curve
from llm_ner.students import Protocol


def test_every_size_and_seed_is_trained_and_summarised(tiny_tagger_config, fast_training_config, small_training_set):
    config = dataclasses.replace(fast_training_config, epochs=2)
    runs = learning_curve(
        small_training_set,
        {"test": small_training_set[30:]},
        sizes=[20, 5],
        seeds=[1, 2],
        protocol=Protocol(tiny_tagger_config, config),
    )
    assert len(runs) == 2 * 2 * 6  # sizes x seeds x (4 types + micro + macro)
    assert sorted(set(runs["size"])) == [5, 20] and sorted(set(runs["seed"])) == [1, 2]
    summary = summarise_learning_curve(runs)
    micro = runs[runs["entity_type"] == "micro"]
    for size in (5, 20):
        row = summary[(summary["entity_type"] == "micro") & (summary["size"] == size)].iloc[0]
        values = micro[micro["size"] == size]["f1"]
        assert row["f1_mean"] == pytest.approx(values.mean())
        assert row["f1_std"] == pytest.approx(values.std())
        assert row["runs"] == 2


def test_sizes_larger_than_the_pool_are_refused(tiny_tagger_config, fast_training_config, small_training_set):
    with pytest.raises(ValueError, match="sizes asks for 1000 training sentences but the pool holds 40"):
        learning_curve(small_training_set, {}, [10, 1000], [1], Protocol(tiny_tagger_config, fast_training_config))
