import pytest

from llm_ner.model import TaggerConfig, TrainingConfig, from_dict


@pytest.mark.parametrize(
    ("config_class", "values", "named"),
    [
        (TaggerConfig, {"head": "crf"}, "head must be one of ('bilstm', 'linear')"),
        (TaggerConfig, {"encoder_weights": "zeros"}, "encoder_weights"),
        (TaggerConfig, {"dropout": 1.5}, "dropout"),
        (TaggerConfig, {"word_features": "case"}, "word_features must be one of ('auto', 'shape', 'none')"),
        (TaggerConfig, {"shape_embedding_size": 0}, "shape_embedding_size must be > 0"),
        (TrainingConfig, {"optimizer": "adam"}, "optimizer must be one of ('adamw', 'sgd')"),
        (TrainingConfig, {"schedule": "cosine"}, "schedule must be one of"),
        (TrainingConfig, {"device": "tpu"}, "device must be one of"),
        (TrainingConfig, {"device": "cuda:first"}, "or cuda:<index>, got 'cuda:first'"),
        (TrainingConfig, {"epochs": 0}, "epochs must be > 0"),
        (TrainingConfig, {"evaluation_mode": "loose"}, "evaluation_mode"),
        (TrainingConfig, {"early_stopping_patience": -1}, "early_stopping_patience"),
    ],
)
def test_bad_values_name_the_parameter_and_the_allowed_values(config_class, values, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        from_dict(config_class, values)


def test_unknown_keys_are_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown TrainingConfig parameter\(s\) \['epoch'\].*'epochs'"):
        from_dict(TrainingConfig, {"epoch": 3})


def test_from_dict_builds_the_configured_values():
    config = from_dict(TrainingConfig, {"optimizer": "sgd", "schedule": "epoch_decay", "epochs": 7})
    assert (config.optimizer, config.schedule, config.epochs) == ("sgd", "epoch_decay", 7)
    assert from_dict(TaggerConfig, None) == TaggerConfig()


def test_one_gpu_of_several_is_named_by_index():
    assert TrainingConfig(device="cuda:1").device == "cuda:1"  # a worker's own GPU
