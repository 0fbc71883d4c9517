"""fit trains only the word-embedding rows its sentences use; the weights must equal those of
training the whole matrix (up to float rounding), and the tagger must come out whole."""

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from llm_ner.model import Tagger, fit, training
from llm_ner.model.used_rows import UsedRowsEmbedding, training_only_used_rows


@contextlib.contextmanager
def _whole_matrix(encoder, token_ids):
    yield


def _fit_both_ways(monkeypatch, tagger_config, config, train, validation=None):
    """(compact tagger, its result, whole-matrix tagger, its result) from the same seed."""
    compact = Tagger.build(tagger_config, seed=5)
    compact_result = fit(compact, train, config, validation=validation)
    with monkeypatch.context() as patch:
        patch.setattr(training, "training_only_used_rows", _whole_matrix)
        whole = Tagger.build(tagger_config, seed=5)
        whole_result = fit(whole, train, config, validation=validation)
    return compact, compact_result, whole, whole_result


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_training_the_used_rows_gives_the_weights_of_training_the_whole_matrix(
    monkeypatch, tiny_tagger_config, fast_training_config, small_training_set, optimizer
):
    # strong weight decay and a schedule, so that an unused row's scaling is large and varies per step
    config = dataclasses.replace(
        fast_training_config, epochs=3, optimizer=optimizer, weight_decay=0.3, schedule="linear_warmup"
    )
    compact, _, whole, _ = _fit_both_ways(monkeypatch, tiny_tagger_config, config, small_training_set[:20])
    assert compact.state_dict().keys() == whole.state_dict().keys()
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(compact.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)

    start = Tagger.build(tiny_tagger_config, seed=5).encoder.get_input_embeddings().weight
    trained = compact.encoder.get_input_embeddings()
    assert type(trained) is torch.nn.Embedding  # the encoder has its own module back
    used = np.unique(np.concatenate([e.input_ids for e in compact.encode([s[0] for s in small_training_set[:20]])]))
    unused = torch.ones(len(start), dtype=torch.bool)
    unused[torch.from_numpy(used)] = False
    unused[compact.tokenizer.pad_token_id] = False
    # the unused rows moved by weight decay alone: one factor for all of them, well below 1
    factors = trained.weight[unused] / start[unused]
    assert factors.std() < 1e-5 and factors.mean() < 0.99


def test_validation_and_the_restored_best_epoch_match_whole_matrix_training(
    monkeypatch, tiny_tagger_config, fast_training_config, small_training_set
):
    # validation sentences hold words the training sentences lack: they read decayed original rows
    config = dataclasses.replace(fast_training_config, epochs=5, weight_decay=0.3, early_stopping_patience=2)
    compact, compact_result, whole, whole_result = _fit_both_ways(
        monkeypatch, tiny_tagger_config, config, small_training_set[:15], validation=small_training_set[15:40]
    )
    columns = ["validation_loss", "validation_f1", "train_loss"]
    np.testing.assert_allclose(compact_result.history[columns], whole_result.history[columns], rtol=1e-4)
    assert compact_result.best_epoch == whole_result.best_epoch
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(compact.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_an_error_during_training_leaves_the_encoder_its_own_embedding(tiny_tagger_config):
    tagger = Tagger.build(tiny_tagger_config, seed=5)
    embedding = tagger.encoder.get_input_embeddings()
    with (
        pytest.raises(RuntimeError, match="interrupted"),
        training_only_used_rows(tagger.encoder, [np.array([0, 101, 102, 2000])]),
    ):
        assert isinstance(tagger.encoder.get_input_embeddings(), UsedRowsEmbedding)
        raise RuntimeError("interrupted")
    assert tagger.encoder.get_input_embeddings() is embedding


def test_in_training_an_id_outside_the_used_rows_is_an_error_not_a_wrong_row(tiny_tagger_config):
    tagger = Tagger.build(tiny_tagger_config, seed=5)
    compact = UsedRowsEmbedding(tagger.encoder.get_input_embeddings(), torch.tensor([0, 101, 102]))
    assert compact(torch.tensor([[101, 102]])).shape == (1, 2, tiny_tagger_config.encoder_overrides["hidden_size"])
    with pytest.raises(IndexError):
        compact(torch.tensor([[101, 2000]]))
    compact.eval()  # validation: any id, an unused one as its original row (x the probe, 1 so far)
    original = tagger.encoder.get_input_embeddings().weight
    torch.testing.assert_close(compact(torch.tensor([[2000]]))[0, 0], original[2000])


def test_a_frozen_embedding_is_left_alone(tiny_tagger_config):
    tagger = Tagger.build(tiny_tagger_config, seed=5)
    embedding = tagger.encoder.get_input_embeddings()
    embedding.weight.requires_grad_(False)
    with training_only_used_rows(tagger.encoder, [np.array([0, 101, 102])]):
        assert tagger.encoder.get_input_embeddings() is embedding
