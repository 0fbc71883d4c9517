"""S0's active-learning loop on a tiny random encoder and real CoNLL sentences, the strategy
comparison, masked truncated words and the checkpoints dataset."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from llm_ner.active.compare import compare_strategies
from llm_ner.active.loop import LoopSettings, active_learning_loop, checkpoint_name, price_rounds, reveal
from llm_ner.corpus import load_split
from llm_ner.datasets.tagger_model import TaggerCheckpointsDataset
from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, fit, labelled_sentences
from llm_ner.model.prediction import mc_dropout_proba, predict_proba

TINY = TaggerConfig(
    encoder_weights="random",
    lstm_hidden_size=16,
    max_subwords=16,
    encoder_overrides={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
)
CONFIG = TrainingConfig(
    epochs=2,
    batch_size=8,
    learning_rate=1e-2,
    head_learning_rate=1e-2,
    schedule="constant",
    early_stopping_patience=None,
    progress_bar=False,
    device="cpu",
)


@pytest.fixture(scope="module")
def start():
    torch.set_num_threads(1)
    train = load_split("train").iloc[:120]
    training = train.iloc[:30][["sentence_id", "tokens", "ner_tags"]].assign(source="llm", weight=1.0)
    pool = train.iloc[30:][["sentence_id", "tokens", "ner_tags"]].rename(columns={"ner_tags": "gold_tags"})
    tagger = Tagger.build(TINY, seed=1)
    fit(tagger, labelled_sentences(training), CONFIG)
    valid = load_split("valid").iloc[:20]
    return (
        tagger,
        training,
        pool,
        {"validation": labelled_sentences(valid), "test": labelled_sentences(valid.iloc[:10])},
    )


def test_the_loop_reveals_fine_tunes_records_and_checkpoints(start):
    tagger, training, pool, evaluation = start
    before = {k: v.clone() for k, v in tagger.state_dict().items()}
    saved = {}
    settings = LoopSettings(
        strategy="mean_token_entropy",
        batch_to_add=5,
        fine_tune_epochs=1,
        max_iterations=3,
        improvement_threshold=None,
        pool_subsample=40,
        seed=2,
    )
    history = price_rounds(
        active_learning_loop(tagger, training, pool, evaluation, settings, CONFIG, on_checkpoint=saved.__setitem__),
        lambda tokens: tokens * 0.01,
    )
    assert list(history["iteration"]) == [0, 1, 2, 3] and list(history["added"]) == [0, 5, 10, 15]
    assert list(history["pool_left"]) == [90, 85, 80, 75] and list(history["training_sentences"]) == [30, 35, 40, 45]
    assert history["added_tokens"].iloc[-1] > 0
    assert history["expert_usd"].iloc[-1] == pytest.approx(history["added_tokens"].iloc[-1] * 0.01)
    assert list(history.columns[history.columns.get_loc("added_tokens") :][:2]) == ["added_tokens", "expert_usd"]
    assert history[["validation_f1", "test_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (history["scored_sentences"].iloc[1:] == 40).all() and (
        history["scoring_sentences_per_second"].iloc[1:] > 0
    ).all()
    assert (
        list(saved)
        == [checkpoint_name(i, 5 * i) for i in (1, 2, 3)]
        == ["active_iter_1_added_5", "active_iter_2_added_10", "active_iter_3_added_15"]
    )
    assert all(torch.equal(v, tagger.state_dict()[k]) for k, v in before.items())  # the start model is left alone


def test_uncertainty_asks_for_the_sentences_the_student_doubts_most(start):
    tagger, training, pool, evaluation = start
    chosen = {}
    for strategy in ("mean_token_entropy", "random"):
        settings = LoopSettings(
            strategy=strategy, batch_to_add=5, fine_tune_epochs=1, max_iterations=1, improvement_threshold=None, seed=3
        )
        history = active_learning_loop(tagger, training, pool, evaluation, settings, CONFIG)
        chosen[strategy] = {int(i) for i in history["chosen_ids"].iloc[1].split()}
    probabilities = predict_proba(tagger, [list(t) for t in pool["tokens"]], mask_truncated=True)
    entropy = np.array([np.nanmean(-(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)) for p in probabilities])
    most_doubted = set(pool["sentence_id"].iloc[entropy.argsort()[-5:]])
    assert chosen["mean_token_entropy"] == most_doubted and chosen["random"] != most_doubted


def test_the_loop_stops_when_validation_f1_stops_improving(start):
    tagger, training, pool, evaluation = start
    settings = LoopSettings(
        strategy="random",
        batch_to_add=5,
        fine_tune_epochs=1,
        max_iterations=5,
        min_iterations=2,
        improvement_threshold=1.0,
        seed=4,
    )  # no round gains a whole F1 point of 1.0
    history = active_learning_loop(tagger, training, pool, evaluation, settings, CONFIG)
    assert list(history["iteration"]) == [0, 1, 2]


def test_revealed_gold_replaces_llm_tags():
    training = pd.DataFrame(
        {
            "sentence_id": [1, 2],
            "tokens": [["A"], ["B"]],
            "ner_tags": [["O"], ["O"]],
            "source": "llm",
            "weight": [0.5, 0.5],
        }
    )
    chosen = pd.DataFrame({"sentence_id": [2, 7], "tokens": [["B"], ["C"]], "gold_tags": [["B-PER"], ["B-LOC"]]})
    revealed = reveal(training, chosen).set_index("sentence_id")
    assert revealed["source"].to_dict() == {1: "llm", 2: "gold", 7: "gold"}
    assert revealed.at[2, "ner_tags"] == ["B-PER"] and revealed.at[2, "weight"] == 1.0


def test_bad_loop_parameters_name_themselves():
    with pytest.raises(ValueError, match="active_learning.strategies must be among"):
        LoopSettings(strategy="entropy")
    with pytest.raises(ValueError, match="active_learning.batch_to_add must be a positive integer"):
        LoopSettings(strategy="random", batch_to_add=0)
    with pytest.raises(ValueError, match="active_learning.pool_subsample"):
        LoopSettings(strategy="random", batch_to_add=10, pool_subsample=5)


def test_truncated_words_are_masked_for_uncertainty_and_mc_dropout_varies(start):
    tagger = start[0]
    long_sentence = ["Tokenisation"] * 40  # far beyond max_subwords=16
    masked = predict_proba(tagger, [long_sentence], mask_truncated=True)[0]
    plain = predict_proba(tagger, [long_sentence])[0]
    cut = np.isnan(masked).any(axis=1)
    assert cut.any() and not cut[0]
    assert (plain[cut].argmax(axis=1) == tagger.labels.index("O")).all() and np.allclose(plain[cut].max(axis=1), 1)
    passes = mc_dropout_proba(tagger, [["EU", "rejects", "German", "call"]], passes=4, seed=0)[0]
    assert passes.shape == (4, 4, len(tagger.labels)) and not np.allclose(passes[0], passes[1])
    assert np.allclose(
        mc_dropout_proba(tagger, [["EU", "rejects"]], passes=2, seed=5)[0],
        mc_dropout_proba(tagger, [["EU", "rejects"]], passes=2, seed=5)[0],
    )


def _history(strategy, seed, f1s):
    return pd.DataFrame(
        {"strategy": strategy, "seed": seed, "added": [0, 10, 20], "test_f1": f1s, "expert_usd": [0.0, 5.0, 10.0]}
    )


def test_comparison_counts_wins_areas_and_labels_to_target():
    history = pd.concat(
        [
            _history("random", 1, [0.5, 0.55, 0.6]),
            _history("random", 2, [0.5, 0.6, 0.62]),
            _history("entropy", 1, [0.5, 0.6, 0.7]),
            _history("entropy", 2, [0.5, 0.58, 0.61]),
        ]
    )
    table = compare_strategies(history, target_f1=0.6).set_index("strategy")
    assert table.at["entropy", "wins"] == 2 and table.at["entropy", "losses"] == 2 and table.at["entropy", "ties"] == 0
    assert table.at["random", "ties"] == 4 and table.at["random", "mean_difference"] == 0
    # area = mean F1 over the budget: seed 1 (0.55 + 0.65) / 2 = 0.6, seed 2 (0.54 + 0.595) / 2 = 0.5675
    assert table.at["entropy", "area_mean"] == pytest.approx((0.6 + 0.5675) / 2)
    assert table.at["entropy", "labels_to_target_mean"] == 15 and table.at["entropy", "usd_to_target_mean"] == 7.5
    assert table.at["random", "labels_to_target_mean"] == 15 and table.at["random", "seeds_reaching_target"] == 2
    assert math.isnan(compare_strategies(history, target_f1=0.9).at[0, "labels_to_target_mean"])
    with pytest.raises(ValueError, match="baseline strategy 'random' was not run"):
        compare_strategies(history[history["strategy"] != "random"], target_f1=0.6)


def test_checkpoints_dataset_saves_versioned_and_loads_by_name(start, tmp_path):
    from kedro.io.core import Version

    tagger = start[0]
    dataset = TaggerCheckpointsDataset(str(tmp_path / "checkpoints"), version=Version(None, None))
    dataset.save({"random/active_iter_1_added_5": tagger, "random/active_iter_2_added_10": tagger})
    loaded = TaggerCheckpointsDataset(str(tmp_path / "checkpoints"), version=Version(None, None)).load()
    assert sorted(loaded) == ["random/active_iter_1_added_5", "random/active_iter_2_added_10"]
    restored = loaded["random/active_iter_2_added_10"]()
    assert all(torch.equal(v, restored.state_dict()[k]) for k, v in tagger.state_dict().items())
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1  # one timestamped version folder
