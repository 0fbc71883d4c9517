import dataclasses

import pytest

from llm_ner.model import TaggerConfig, TrainingConfig
from llm_ner.typed import parse


@pytest.mark.parametrize(
    ("config_class", "values", "named"),
    [
        (TaggerConfig, {"head": "crf"}, "student.tagger.head: Input should be 'bilstm' or 'linear', got 'crf'"),
        (
            TaggerConfig,
            {"encoder_weights": "zeros"},
            "student.tagger.encoder_weights: Input should be 'pretrained' or 'random'",
        ),
        (TaggerConfig, {"dropout": 1.5}, "student.tagger.dropout: Input should be less than 1, got 1.5"),
        (
            TaggerConfig,
            {"word_features": "case"},
            "student.tagger.word_features: Input should be 'auto', 'shape' or 'none'",
        ),
        (
            TaggerConfig,
            {"shape_embedding_size": 0},
            "student.tagger.shape_embedding_size: Input should be greater than 0",
        ),
        (TaggerConfig, {"sequence_classes": ["a", "a"]}, "student.tagger.sequence_classes: must be distinct"),
        (
            TrainingConfig,
            {"optimizer": "adam"},
            "student.trainer.optimizer: Input should be 'adamw' or 'sgd', got 'adam'",
        ),
        (
            TrainingConfig,
            {"schedule": "cosine"},
            "student.trainer.schedule: Input should be 'linear_warmup', 'epoch_decay' or 'constant'",
        ),
        (
            TrainingConfig,
            {"device": "tpu"},
            "student.trainer.device: device must be one of ('auto', 'cpu', 'cuda', 'mps') or cuda:<index>, got 'tpu'",
        ),
        (TrainingConfig, {"device": "cuda:first"}, "or cuda:<index>, got 'cuda:first'"),
        (TrainingConfig, {"epochs": 0}, "student.trainer.epochs: Input should be greater than 0, got 0"),
        (
            TrainingConfig,
            {"evaluation_mode": "loose"},
            "student.trainer.evaluation_mode: Input should be 'conlleval' or 'strict'",
        ),
        (
            TrainingConfig,
            {"early_stopping_patience": -1},
            "student.trainer.early_stopping_patience: Input should be greater than 0",
        ),
        (TrainingConfig, {"token_loss_weight": 0}, "both be 0: nothing would be learned"),
    ],
)
def test_bad_values_name_the_parameter_and_the_allowed_values(config_class, values, named):
    path = "student.tagger" if config_class is TaggerConfig else "student.trainer"
    with pytest.raises(ValueError) as error:
        parse(config_class, values, path)
    assert named in str(error.value)


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match=r"student.trainer.epoch: unknown parameter \(no setting reads it\), got 3"):
        parse(TrainingConfig, {"epoch": 3}, "student.trainer")


def test_configured_values_are_built_and_copies_are_validated_again():
    config = parse(TrainingConfig, {"optimizer": "sgd", "schedule": "epoch_decay", "epochs": 7}, "student.trainer")
    assert (config.optimizer, config.schedule, config.epochs) == ("sgd", "epoch_decay", 7)
    assert parse(TaggerConfig, None, "student.tagger") == TaggerConfig()
    assert TaggerConfig(sequence_classes=["a", "b"]).sequence_classes == ("a", "b")  # YAML lists become tuples
    with pytest.raises(ValueError, match="optimizer"):
        dataclasses.replace(config, optimizer="adam")


def test_one_gpu_of_several_is_named_by_index():
    assert TrainingConfig(device="cuda:1").device == "cuda:1"  # a worker's own GPU
