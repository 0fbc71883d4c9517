"""The students of the study and the one protocol they are trained under.

Every student the study compares -- the all-expert learning curve, the LLM-only and gold-only
references, each expert budget, regimen, blending schedule and active-learning run -- is built
from one :class:`Protocol` (``student:`` in conf/base/parameters.yml: encoder, head, epochs,
batch, learning rates and schedule). A route may add phases (LLM then gold, a fine-tuning round),
never change the protocol; only the LR schedule of Huang's comparisons varies, by design.

:class:`Student` is the grid job (:mod:`llm_ner.grid`) for one student: build a tagger (or
continue a copy of a trained one), fit each of its phases for the protocol's epochs, and score it.
:class:`KeptStudent` is the job for a student that is kept as a model (model_init, ...): the
tagger is its result, so the grid's store keeps it too and a rerun does not train it again.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .blending import epoch_sentences
from .grid import Cell, CellOutput, Grid, Sequential
from .model import (
    LabelledSentence,
    Tagger,
    TaggerConfig,
    TrainingConfig,
    TrainingResult,
    evaluate_on,
    fit,
    predict_proba,
)
from .model.training import TrainingData
from .sampling import derive_seed
from .tags import CONLL_2003, LabelSchema
from .typed import Settings, parse


class StudentParams(Settings):
    """``student`` in parameters.yml: the tagger and trainer of the one protocol (the run's label
    set, ``entity_types``, completes it: :meth:`Protocol.of`)."""

    tagger: TaggerConfig = TaggerConfig()
    trainer: TrainingConfig = TrainingConfig()


@dataclass(frozen=True)
class Protocol:
    """How every student of the study is built and trained."""

    tagger: TaggerConfig
    trainer: TrainingConfig
    labels: tuple[str, ...] = CONLL_2003.labels  # the tag set of the head: LabelSchema.labels

    @classmethod
    def of(cls, student: StudentParams | Mapping[str, Any], schema: LabelSchema) -> Protocol:
        """The protocol of ``params:student`` (typed, or a YAML mapping) for the run's label schema."""
        student = parse(StudentParams, student, "student")
        return cls(student.tagger, student.trainer, schema.labels)

    def with_schedule(self, schedule: str) -> Protocol:
        return dataclasses.replace(self, trainer=dataclasses.replace(self.trainer, schedule=schedule))


@dataclass(frozen=True)
class StudentSetup:
    """What every student of a stage shares: the protocol it is trained under, the evaluation sets it
    is scored on (the run's validation and test samples) and the grid that runs it. Each stage that
    trains students builds one (``<stage>_student_setup``) from ``params:student``,
    ``params:entity_types``, ``params:grid`` and ``evaluation_samples``."""

    protocol: Protocol
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]]
    grid: Grid
    schema: LabelSchema  # the run's entity types (protocol.labels are its tags): checks a model trained elsewhere


@dataclass(frozen=True)
class Blend:
    """One blending phase (Huang's phase 3): epoch ``t`` trains on a seeded sample of
    round(w_llm |llm|) LLM-labelled and round(w_gold |gold|) gold sentences, ``weights[t]``."""

    llm: tuple[LabelledSentence, ...]
    gold: tuple[LabelledSentence, ...]
    weights: tuple[tuple[float, float], ...]
    seed: int

    def __call__(self, epoch: int) -> list[LabelledSentence]:
        return epoch_sentences(self.llm, self.gold, self.weights[epoch], derive_seed(self.seed, "epoch", epoch))


def sentences_by_source(phases: Sequence[TrainingData], epochs: int) -> Counter:
    """Distinct sentences a student's phases train on, per source (``gold`` | ``llm``): what it consumed."""
    seen = {}
    for phase in phases:
        for epoch in range(epochs):
            for sentence in phase(epoch) if callable(phase) else phase:
                seen[id(sentence)] = sentence.source  # by object: two equal CoNLL sentences are two sentences
    return Counter(seen.values())


@dataclass(frozen=True)
class Student:
    """One student: ``phases`` (each a sentence list or a :class:`Blend`) fitted in turn for
    ``protocol.trainer.epochs`` epochs each, continuing the same tagger -- new from
    ``Tagger.build(seed)``, or a copy of ``start``. Returns its scores on every evaluation set
    (a row per split x entity type, ``info`` as constant columns) and, when asked, the per-word
    probabilities of the ``predict`` sentences (out-of-fold label quality)."""

    protocol: Protocol
    phases: tuple[TrainingData, ...]
    seed: int
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]] = field(default_factory=dict)
    start: Tagger | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    predict: tuple[tuple[str, ...], ...] = ()

    def train(self, selection: Sequence[LabelledSentence] = ()) -> tuple[Tagger, list[TrainingResult]]:
        """The trained tagger and each phase's training result; with ``selection``, each phase stops
        early on it (only the training pipeline's model_gold / model_llm, when configured so)."""
        trainer = dataclasses.replace(self.protocol.trainer, seed=self.seed)
        if self.start is not None:
            tagger = copy.deepcopy(self.start)
        else:
            tagger = Tagger.build(self.protocol.tagger, seed=self.seed, labels=self.protocol.labels)
        return tagger, [fit(tagger, phase, trainer, validation=list(selection) or None) for phase in self.phases]

    def run(self) -> CellOutput:
        tagger, _ = self.train()
        rows = (
            evaluate_on(tagger, self.evaluation_sets, self.protocol.trainer) if self.evaluation_sets else pd.DataFrame()
        )
        for position, (name, value) in enumerate(self.info.items()):
            rows.insert(position, name, value)
        artifacts: dict[str, Any] = {}
        if self.predict:
            artifacts["probabilities"] = predict_proba(
                tagger, [list(words) for words in self.predict], self.protocol.trainer.eval_batch_size
            )
        return CellOutput(rows, artifacts)


@dataclass(frozen=True)
class KeptStudent:
    """Grid job: one student whose trained tagger is the result (model_init, model_llm_pure,
    model_gold, model_llm): its last phase's history as rows, the tagger as an artifact -- stored
    with the cell, so a rerun reads it back instead of training it again."""

    student: Student
    selection: tuple[LabelledSentence, ...] = ()  # early stopping (Student.train); none: fixed epochs

    def run(self) -> CellOutput:
        tagger, results = self.student.train(self.selection)
        return CellOutput(results[-1].history, {"tagger": tagger.cpu()})


def train_student(
    student: Student, grid: Grid = Grid(), name: str = "student", selection: Sequence[LabelledSentence] = ()
) -> tuple[Tagger, pd.DataFrame]:
    """One student on its own (model_init, the LLM-only reference, ...): its tagger and history.
    It runs in this process on all cores (one cell gains nothing from workers), through ``grid``'s
    store: a stored student is read back, not trained again."""
    alone = dataclasses.replace(grid, executor=Sequential())
    [output] = alone.run(name, [Cell({"student": name}, KeptStudent(student, tuple(selection)))])
    return output.artifacts["tagger"], output.rows.drop(columns="student")
