import dataclasses

import pandas as pd
import pytest
import torch

from llm_ner.model import LabelledSentence, Tagger, TrainingConfig, encoding, evaluate, fit, predict_tags


def _f1_on(tagger, sentences):
    return evaluate(tagger, [s[0] for s in sentences], [s[1] for s in sentences]).f1


def test_training_learns_the_training_sentences(tiny_tagger_config, fast_training_config, small_training_set):
    tagger = Tagger.build(tiny_tagger_config, seed=1)
    before = _f1_on(tagger, small_training_set)
    result = fit(tagger, small_training_set, fast_training_config)
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0] / 5
    assert before < 0.2
    assert _f1_on(tagger, small_training_set) > 0.9
    assert list(result.history["epoch"]) == list(range(1, 13))
    assert (result.history["sentences"] == 40).all()


def test_the_linear_head_variant_trains_too(tiny_tagger_config, fast_training_config, small_training_set):
    config = dataclasses.replace(tiny_tagger_config, head="linear")
    tagger = Tagger.build(config, seed=1)
    result = fit(tagger, small_training_set, fast_training_config)
    assert tagger.lstm is None
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0] / 2


def test_same_config_gives_the_same_weights_and_metrics(tiny_tagger_config, fast_training_config, small_training_set):
    config = dataclasses.replace(fast_training_config, epochs=3)
    runs = []
    for _ in range(2):
        tagger = Tagger.build(tiny_tagger_config, seed=7)
        result = fit(tagger, small_training_set, config, validation=small_training_set[:10])
        runs.append((tagger, result.history.drop(columns=["seconds", "sentences_per_second"])))
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])
    for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()):
        assert torch.equal(a, b)
    other = Tagger.build(tiny_tagger_config, seed=7)
    fit(other, small_training_set, dataclasses.replace(config, seed=8))
    assert not torch.equal(other.classifier.weight, runs[0][0].classifier.weight)


def test_each_epoch_can_train_on_its_own_sentences(tiny_tagger_config, fast_training_config, small_training_set):
    """What blending schedules need: the caller picks every epoch's sentences."""
    asked = []

    def sentences_for(epoch):
        asked.append(epoch)
        return small_training_set[: 10 * (epoch + 1)]

    tagger = Tagger.build(tiny_tagger_config, seed=1)
    result = fit(tagger, sentences_for, dataclasses.replace(fast_training_config, epochs=3))
    assert asked == [0, 1, 2]
    assert list(result.history["sentences"]) == [10, 20, 30]


def test_early_stopping_restores_the_best_epoch(tiny_tagger_config, fast_training_config, small_training_set):
    # Gold without entities: validation F1 is 0 after every epoch, so epoch 1 stays the best.
    validation = [(tokens, ["O"] * len(tokens)) for tokens, _ in small_training_set[:10]]
    config = dataclasses.replace(fast_training_config, epochs=6, early_stopping_patience=2)
    tagger = Tagger.build(tiny_tagger_config, seed=3)
    result = fit(tagger, small_training_set, config, validation=validation)
    assert result.stopped_early and result.best_epoch == 1 and len(result.history) == 3
    # with a constant schedule, epoch 1 does not depend on the number of epochs: train just it
    one_epoch = Tagger.build(tiny_tagger_config, seed=3)
    fit(one_epoch, small_training_set, dataclasses.replace(config, epochs=1))
    for a, b in zip(tagger.state_dict().values(), one_epoch.state_dict().values()):
        assert torch.equal(a, b)


def test_training_continues_from_a_saved_tagger(tiny_tagger_config, fast_training_config, small_training_set, tmp_path):
    config = dataclasses.replace(fast_training_config, epochs=4)
    tagger = Tagger.build(tiny_tagger_config, seed=1)
    first = fit(tagger, small_training_set, config)
    tagger.save(tmp_path / "tagger")
    continued = fit(Tagger.load(tmp_path / "tagger"), small_training_set, dataclasses.replace(config, epochs=1))
    assert continued.history["train_loss"].iloc[0] < first.history["train_loss"].iloc[0] / 2


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("epoch_decay", [1e-2, 0.95e-2, 0.9025e-2]),
        ("constant", [1e-2, 1e-2, 1e-2]),
    ],
)
def test_sgd_with_per_epoch_learning_rate_schedules(tiny_tagger_config, small_training_set, schedule, expected):
    config = TrainingConfig(
        epochs=3, optimizer="sgd", learning_rate=1e-2, schedule=schedule, progress_bar=False, device="cpu"
    )
    result = fit(Tagger.build(tiny_tagger_config, seed=1), small_training_set, config)
    assert result.history["learning_rate"].tolist() == pytest.approx(expected)


def test_linear_warmup_rises_then_decays_to_almost_zero(tiny_tagger_config, small_training_set):
    config = TrainingConfig(epochs=3, batch_size=8, warmup_ratio=0.4, progress_bar=False, device="cpu")
    result = fit(Tagger.build(tiny_tagger_config, seed=1), small_training_set, config)
    rates = result.history["learning_rate"].tolist()  # at each epoch's last step (15 steps, 6 warm-up)
    assert rates[0] == pytest.approx(5e-5 * 5 / 6)
    assert rates[2] == pytest.approx(5e-5 / 9)


def test_no_usable_sentence_is_an_error(tiny_tagger_config, fast_training_config):
    with pytest.raises(ValueError, match="no training sentences"):
        fit(Tagger.build(tiny_tagger_config), [([], [])], fast_training_config)


def test_a_tagger_with_another_label_order_trains_and_decodes_with_that_order(
    tiny_tagger_config, fast_training_config, small_training_set
):
    """Encoding and decoding share the tagger's label map: a permuted order must change nothing."""
    default = Tagger.build(tiny_tagger_config, seed=1)
    permuted_labels = tuple(reversed(default.labels))
    permuted = Tagger.build(tiny_tagger_config, seed=1, labels=permuted_labels)
    assert permuted.encode([["Paris"]], [["B-LOC"]])[0].label_ids.tolist() == [permuted_labels.index("B-LOC")]
    assert permuted.label_to_id["B-LOC"] != default.label_to_id["B-LOC"]
    # Same network up to the order of the output rows: each label starts from the same weights.
    rows = [default.label_to_id[label] for label in permuted_labels]
    with torch.no_grad():
        permuted.classifier.weight.copy_(default.classifier.weight[rows])
        permuted.classifier.bias.copy_(default.classifier.bias[rows])
    sentences = small_training_set[:20]
    config = dataclasses.replace(fast_training_config, epochs=8)
    fit(default, sentences, config)
    fit(permuted, sentences, config)
    words = [s[0] for s in sentences]
    assert _f1_on(permuted, sentences) > 0.9
    assert predict_tags(permuted, words) == predict_tags(default, words)


def test_a_second_fit_on_the_same_sentences_does_not_tokenise_again(
    tiny_tagger_config, fast_training_config, small_training_set, monkeypatch
):
    """Mixed annotation and active learning fit many taggers on overlapping sentences."""
    monkeypatch.setattr(encoding, "ENCODING_CACHE", encoding.EncodingCache())
    tokenised = []
    tokenize = encoding._tokenize

    def counting_tokenize(tokenizer, words, max_subwords):
        tokenised.append(len(words))
        return tokenize(tokenizer, words, max_subwords)

    monkeypatch.setattr(encoding, "_tokenize", counting_tokenize)
    train, validation = small_training_set[:30], small_training_set[30:]
    config = dataclasses.replace(fast_training_config, epochs=3)
    first = fit(Tagger.build(tiny_tagger_config, seed=1), train, config, validation=validation)
    # once each, though validation is scored every epoch; CoNLL repeats some sentences, and those
    # are not tokenised twice either
    unseen = {tuple(tokens) for tokens, _ in validation} - {tuple(tokens) for tokens, _ in train}
    assert tokenised == [len(train), len(unseen)]
    # a new tagger loads its own tokenizer: the same tokenizer, so the encodings are shared
    second = fit(Tagger.build(tiny_tagger_config, seed=1), train, config, validation=validation)
    assert tokenised == [len(train), len(unseen)]
    pd.testing.assert_frame_equal(
        first.history.drop(columns=["seconds", "sentences_per_second"]),
        second.history.drop(columns=["seconds", "sentences_per_second"]),
    )


def _weights_after(tagger_config, training_config, sentences):
    tagger = Tagger.build(tagger_config, seed=3)
    fit(tagger, sentences, training_config)
    return tagger.state_dict()


def test_a_zero_weight_sentence_teaches_nothing(tiny_tagger_config, fast_training_config, small_training_set):
    """Its tags may say anything: with weight 0 they never reach the gradient; with weight 1 they do."""
    config = dataclasses.replace(fast_training_config, epochs=2, batch_size=4)
    kept = [LabelledSentence(tokens, tags) for tokens, tags in small_training_set[:11]]
    tokens, tags = small_training_set[11]
    wrong = ["B-PER" if tag == "O" else "O" for tag in tags]
    runs = {
        name: _weights_after(tiny_tagger_config, config, kept + [LabelledSentence(tokens, t, weight)])
        for name, t, weight in (("zero", tags, 0.0), ("zero_wrong", wrong, 0.0), ("one_wrong", wrong, 1.0))
    }
    for name, tensor in runs["zero"].items():
        assert torch.equal(tensor, runs["zero_wrong"][name])
    assert not torch.equal(runs["zero"]["classifier.weight"], runs["one_wrong"]["classifier.weight"])


def test_weights_are_relative_and_the_history_counts_sources(
    tiny_tagger_config, fast_training_config, small_training_set
):
    config = dataclasses.replace(fast_training_config, epochs=2, batch_size=4)
    plain = [
        LabelledSentence(tokens, tags, 1.0, "gold" if i % 4 else "llm")
        for i, (tokens, tags) in enumerate(small_training_set[:12])
    ]
    doubled = [s._replace(weight=2.0) for s in plain]
    for a, b in zip(
        _weights_after(tiny_tagger_config, config, plain).values(),
        _weights_after(tiny_tagger_config, config, doubled).values(),
    ):
        assert torch.allclose(a, b, atol=1e-5)
    result = fit(Tagger.build(tiny_tagger_config, seed=3), plain, config)
    assert list(result.history["llm_sentences"]) == [3, 3]
    assert list(result.history["gold_sentences"]) == [9, 9]
    with pytest.raises(ValueError, match="weights must be >= 0"):
        fit(Tagger.build(tiny_tagger_config, seed=3), [plain[0]._replace(weight=-1.0)], config)
