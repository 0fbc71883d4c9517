"""Training a :class:`~llm_ner.model.tagger.Tagger` on (tokens, tags) pairs.

:func:`fit` is what later stages call many times (mixed annotation, active learning, blending
schedules), so its inputs are plain: a tagger (new from :meth:`Tagger.build`, or continued from
:meth:`Tagger.load`), the training sentences -- either one list used every epoch, or a function
``epoch -> list`` choosing each epoch's sentences -- a :class:`TrainingConfig`, and optionally
validation sentences for early stopping on entity F1. Sentences are
:class:`~llm_ner.model.examples.LabelledSentence` (or plain ``(tokens, tags)`` pairs); their
``weight`` scales their share of the loss.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm
from transformers import set_seed

from ..sampling import derive_seed
from .config import TrainingConfig
from .devices import autocast, mixed_precision_dtype, select_device
from .encoding import IGNORED_LABEL, EncodedSentence, iterate_batches, length_bucketed_batches
from .evaluation import evaluate_labelled
from .examples import NO_TOPIC, SOURCES, LabelledSentence, as_labelled
from .tagger import Tagger
from .used_rows import training_only_used_rows

logger = logging.getLogger(__name__)

TrainingData = Sequence[LabelledSentence] | Callable[[int], Sequence[LabelledSentence]]


@dataclass(frozen=True)
class TrainingResult:
    # one row per epoch: epoch, sentences, train_loss, learning_rate, seconds, sentences_per_second,
    # and validation_loss / validation_f1 / validation_token_accuracy when validation data was given
    history: pd.DataFrame
    best_epoch: int | None  # 1-based epoch whose weights the tagger ends with (None: no validation)
    best_f1: float | None
    stopped_early: bool


# Learning-rate schedules, stepped once per optimisation step. `steps_per_epoch` lists every epoch's
# steps (epochs may differ in size when each has its own sentences).
def _linear_warmup(optimizer: torch.optim.Optimizer, steps_per_epoch: list[int], config: TrainingConfig) -> LambdaLR:
    # Not transformers' get_linear_schedule_with_warmup: its warm-up starts at 0, so the first step
    # is lost; on 100 sentences x 4 epochs (28 steps) that alone moved validation F1 from 0.250 to
    # 0.204 (mean of 5 seeds). This warm-up starts at 1/warmup of the rate.
    total_steps = sum(steps_per_epoch)
    warmup = int(total_steps * config.warmup_ratio)

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return LambdaLR(optimizer, multiplier)


def _epoch_decay(optimizer: torch.optim.Optimizer, steps_per_epoch: list[int], config: TrainingConfig) -> LambdaLR:
    epoch_ends = list(itertools.accumulate(steps_per_epoch))
    return LambdaLR(optimizer, lambda step: config.epoch_decay ** bisect.bisect_right(epoch_ends, step))


def _constant(optimizer: torch.optim.Optimizer, steps_per_epoch: list[int], config: TrainingConfig) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: 1.0)


SCHEDULES: dict[str, Callable[[torch.optim.Optimizer, list[int], TrainingConfig], LambdaLR]] = {
    "linear_warmup": _linear_warmup,
    "epoch_decay": _epoch_decay,
    "constant": _constant,
}


def _parameter_groups(tagger: Tagger, config: TrainingConfig) -> list[dict]:
    """Encoder and head get their own learning rates; biases and norms get no weight decay."""
    groups = []
    for part, learning_rate in (("encoder", config.learning_rate), ("head", config.head_learning_rate)):
        named = [
            (name, p)
            for name, p in tagger.named_parameters()
            if p.requires_grad and (name.startswith("encoder.") == (part == "encoder"))
        ]
        for decay in (True, False):
            params = [p for _, p in named if (p.ndim > 1) == decay]
            if params:
                groups.append(
                    {"params": params, "lr": learning_rate, "weight_decay": config.weight_decay if decay else 0.0}
                )
    return groups


# Fused kernels: one pass over all parameters per step. torch's default on the CPU is a Python loop
# over the parameter tensors: 36-38 % of a MiniLM epoch on one thread (benchmarks/profile_training.py).
def _adamw(groups: list[dict], config: TrainingConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)


def _sgd(groups: list[dict], config: TrainingConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=config.learning_rate, momentum=config.momentum, fused=True)


# Each must update every weight on its own (no per-tensor norms, as LAMB or Adafactor take): fit
# trains only the embedding rows in use, which gives the whole matrix's weights only then (used_rows).
OPTIMIZERS: dict[str, Callable[[list[dict], TrainingConfig], torch.optim.Optimizer]] = {"adamw": _adamw, "sgd": _sgd}


@dataclass(frozen=True)
class Epoch:
    """One epoch's sentences as the tagger reads them: encoded, weighted and (for a sequence loss)
    with their topics."""

    sentences: list[LabelledSentence]
    encoded: list[EncodedSentence]
    weights: torch.Tensor
    topics: torch.Tensor | None


class EarlyStopping:
    """The best validation F1 so far, its (1-based) epoch and, with ``keep_weights``, its weights;
    training should stop after ``patience`` epochs without improvement (None: never)."""

    def __init__(self, patience: int | None, keep_weights: bool):
        self.patience, self.keep_weights = patience, keep_weights
        self.best_f1, self.best_epoch, self.best_state, self.stale = -1.0, None, None, 0

    def update(self, epoch: int, f1: float, tagger: Tagger) -> None:
        if f1 > self.best_f1:
            self.best_f1, self.best_epoch, self.stale = f1, epoch, 0
            if self.keep_weights:
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in tagger.state_dict().items()}
        else:
            self.stale += 1

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.stale >= self.patience

    def restore(self, tagger: Tagger, last_epoch: int) -> None:
        """The best epoch's weights back, unless the tagger ends on them already."""
        if self.best_state is not None and self.best_epoch != last_epoch:
            tagger.load_state_dict(self.best_state)


class Optimisation:
    """The optimizer, its learning-rate schedule and (fp16 on CUDA) the gradient scaler."""

    def __init__(self, tagger: Tagger, config: TrainingConfig, epochs: list[Epoch], dtype: torch.dtype | None):
        steps_per_epoch = [math.ceil(len(epoch.sentences) / config.batch_size) for epoch in epochs]
        self.optimizer = OPTIMIZERS[config.optimizer](_parameter_groups(tagger, config), config)
        self.schedule = SCHEDULES[config.schedule](self.optimizer, steps_per_epoch, config)
        self.scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
        self.tagger, self.max_grad_norm = tagger, config.max_grad_norm

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self, loss: torch.Tensor) -> float:
        """Backward, clip, update; returns the learning rate this step used."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.tagger.parameters(), self.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        used = self.learning_rate
        self.schedule.step()
        return used


def fit(
    tagger: Tagger,
    train: TrainingData,
    config: TrainingConfig,
    validation: Sequence[LabelledSentence] | None = None,
) -> TrainingResult:
    """Train ``tagger`` in place; returns the per-epoch history.

    With ``validation``, every epoch is scored (micro entity F1); training stops after
    ``early_stopping_patience`` epochs without improvement and, with ``restore_best``, the tagger
    ends with its best epoch's weights. Same config and data on the CPU => same weights and metrics.
    Only the word-embedding rows the sentences use are trained, to the weights that training the
    whole matrix gives (:mod:`~llm_ner.model.used_rows`).
    """
    device = select_device(config.device)
    dtype = mixed_precision_dtype(device, config.mixed_precision)
    tagger.to(device)
    set_seed(config.seed)  # dropout masks
    epochs = _epochs(tagger, train, config)
    validation = list(validation) if validation is not None else None
    stopping = EarlyStopping(config.early_stopping_patience, config.restore_best)
    rows = []
    with training_only_used_rows(tagger.encoder, _token_ids(tagger, epochs)):
        optimisation = Optimisation(tagger, config, epochs, dtype)
        for number, epoch in enumerate(epochs, start=1):
            row = _train_epoch(tagger, epoch, number, config, optimisation)
            if validation:
                row.update(_validate(tagger, validation, config))
                stopping.update(number, row["validation_f1"], tagger)
            rows.append(row)
            logger.info(
                "epoch %s", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            )
            if validation and stopping.should_stop:
                break
        stopping.restore(tagger, len(rows))  # in the block: the snapshot holds the compact rows
    tagger.eval()
    stopped_early = bool(validation) and stopping.should_stop and len(rows) < config.epochs
    best_f1 = stopping.best_f1 if stopping.best_epoch is not None else None
    return TrainingResult(pd.DataFrame(rows), stopping.best_epoch, best_f1, stopped_early)


def _epochs(tagger: Tagger, train: TrainingData, config: TrainingConfig) -> list[Epoch]:
    """Every epoch's sentences, fixed up front (the schedule needs the total number of steps) and
    encoded up front, which also rejects bad tags before any step. A sentence list is prepared once
    however many epochs use it; per-epoch lists share their common sentences through the encoding
    cache."""
    if callable(train):
        data = [_usable(train(epoch)) for epoch in range(config.epochs)]
    else:
        data = [_usable(train)] * config.epochs
    if not any(data):
        raise ValueError("no training sentences with at least one token")
    prepared: dict[int, Epoch] = {}
    for sentences in data:
        if id(sentences) not in prepared:
            prepared[id(sentences)] = Epoch(
                sentences,
                tagger.encode([s.tokens for s in sentences], [s.tags for s in sentences]),
                torch.tensor([s.weight for s in sentences], dtype=torch.float32),
                _topics(tagger, sentences) if config.sequence_loss_weight > 0 else None,
            )
    return [prepared[id(sentences)] for sentences in data]


def _token_ids(tagger: Tagger, epochs: list[Epoch]) -> list[np.ndarray]:
    """Every token id the batches will hold, padding included: the only word-embedding rows trained."""
    distinct = {id(epoch): epoch for epoch in epochs}.values()
    return [e.input_ids for epoch in distinct for e in epoch.encoded] + [np.array([tagger.tokenizer.pad_token_id])]


def _train_epoch(tagger: Tagger, epoch: Epoch, number: int, config: TrainingConfig, optimisation: Optimisation) -> dict:
    """One pass over the epoch's sentences in length-bucketed, seeded batches; its history row."""
    started = time.perf_counter()
    batches = length_bucketed_batches(
        [len(e.input_ids) for e in epoch.encoded],
        config.batch_size,
        shuffle=True,
        seed=derive_seed(config.seed, "epoch", number - 1),
        bucket_size=config.bucket_size,
    )
    tagger.train()
    # summed on the device: reading the loss every step would wait for the GPU every step
    loss_sum, labelled = torch.zeros((), device=tagger.device), 0
    learning_rate = optimisation.learning_rate
    progress = tqdm(
        iterate_batches(epoch.encoded, batches, tagger.tokenizer.pad_token_id),
        total=len(batches),
        desc=f"epoch {number}/{config.epochs}",
        disable=not config.progress_bar,
        leave=False,
    )
    for indices, batch in progress:
        n = int((batch["labels"] != IGNORED_LABEL).sum())  # counted before the batch leaves the CPU
        loss = _batch_loss(tagger, epoch, indices, batch, config)
        learning_rate = optimisation.step(loss)
        loss_sum += loss.detach() * n
        labelled += n
        if config.progress_bar:
            progress.set_postfix(loss=f"{loss_sum.item() / max(labelled, 1):.4f}")
    seconds = time.perf_counter() - started
    sentences = epoch.sentences
    return {
        "epoch": number,
        "sentences": len(sentences),
        **{f"{source}_sentences": sum(s.source == source for s in sentences) for source in SOURCES},
        "train_loss": loss_sum.item() / max(labelled, 1),
        "learning_rate": learning_rate,
        "seconds": seconds,
        "sentences_per_second": len(sentences) / seconds if seconds else float("nan"),
    }


def _batch_loss(tagger: Tagger, epoch: Epoch, indices: list[int], batch: dict, config: TrainingConfig) -> torch.Tensor:
    """``token_loss_weight`` x the token loss + ``sequence_loss_weight`` x the sequence loss (a head
    with weight 0 is not run), each a mean weighted by the sentences' weights."""
    alpha, beta = config.sequence_loss_weight, config.token_loss_weight
    device = tagger.device
    # each sentence's weight on each of its labelled tokens: the loss is their weighted mean
    token_weights = (epoch.weights[indices][:, None] * (batch["labels"] != IGNORED_LABEL)).to(device)
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    labels = batch.pop("labels")
    with autocast(device, mixed_precision_dtype(device, config.mixed_precision)):
        logits, sequence_logits = tagger.heads(**batch, token=beta > 0, sequence=alpha > 0)
    loss = torch.zeros((), device=device)
    if beta > 0:
        token_losses = tagger.token_losses(logits, labels)
        loss = beta * (token_losses * token_weights.flatten()).sum() / token_weights.sum().clamp_min(1e-12)
    if alpha > 0:
        topics, weights = epoch.topics[indices].to(device), epoch.weights[indices].to(device)
        loss = loss + alpha * _sequence_loss(sequence_logits, topics, weights)
    return loss


def _validate(tagger: Tagger, validation: list[LabelledSentence], config: TrainingConfig) -> dict[str, float]:
    result = evaluate_labelled(tagger, validation, config)
    return {
        "validation_loss": result.loss,
        "validation_f1": result.f1,
        "validation_token_accuracy": result.token_accuracy,
    }


def _topics(tagger: Tagger, data: Sequence[LabelledSentence]) -> torch.Tensor:
    """The sentences' sequence classes for a sequence loss, checked against the tagger's head."""
    if tagger.sequence_head is None:
        raise ValueError("sequence_loss_weight > 0 needs a tagger with a sequence head (TaggerConfig.sequence_classes)")
    classes = len(tagger.config.sequence_classes)
    topics = [s.topic for s in data]
    bad = sorted({t for t in topics if t != NO_TOPIC and not 0 <= t < classes})
    if bad:
        raise ValueError(f"sentence topics must be -1 (none) or 0..{classes - 1}, got {bad[:5]}")
    if all(t == NO_TOPIC for t in topics):
        raise ValueError("sequence_loss_weight > 0 but no training sentence has a topic")
    return torch.tensor(topics, dtype=torch.long)


def _sequence_loss(logits: torch.Tensor, topics: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean cross-entropy over the batch's sentences that have a topic."""
    losses = nn.functional.cross_entropy(logits.float(), topics, ignore_index=NO_TOPIC, reduction="none")
    weights = weights * (topics != NO_TOPIC)
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


def _usable(sentences: Sequence[LabelledSentence]) -> list[LabelledSentence]:
    """Drop sentences without tokens (they carry no label to learn from); refuse negative weights."""
    usable = [as_labelled(s) for s in sentences]
    negative = [s.weight for s in usable if not s.weight >= 0]
    if negative:
        raise ValueError(f"training sentence weights must be >= 0, got {negative[:3]}")
    return [s for s in usable if len(s.tokens) > 0]
