"""Seed S0's active-learning loop: score the pool, reveal gold for the top sentences, fine-tune,
evaluate, checkpoint, and stop when validation F1 stops improving.

The start is ``model_init`` and the set it was trained on (S0: the loop must start from that
combined set, so the baseline matches). The pool holds the sentences not yet expert-labelled: new
train sentences (mixed annotation's ``add`` mode) or LLM-labelled pool sentences whose gold then
replaces the LLM tags (``correct``). Revealed sentences join the training set with ``source`` gold
and weight 1; every iteration fine-tunes on the whole set, as S0 does.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..grid import CellOutput
from ..mixed import gold_rows
from ..model import LabelledSentence, Tagger, TrainingConfig, evaluate_on, fit, labelled_sentences
from ..model.prediction import mc_dropout_proba, predict_proba
from ..sampling import derive_seed, lowest_first, seeded_sample
from .strategies import STRATEGIES, PoolPredictions, score_pool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    """S0's ``active_learning_loop`` parameters, plus the strategy and how the pool is scored.

    The one definition of the loop's settings: the YAML ``active_learning.loop`` block is these fields
    less strategy, seed and options (:data:`llm_ner.parameters.LoopParams`), checked by the same
    :func:`check_loop`. A grid cell is fingerprinted by this class's name and its fields in order:
    renaming, reordering or adding one recomputes every stored active-learning cell."""

    strategy: str
    batch_to_add: int = 10
    fine_tune_epochs: int = 2
    initial_epochs: int = 5
    use_initial_training: bool = False  # True: train the start model on the start set first (S0's option)
    improvement_threshold: float | None = 5e-5  # stop once validation F1 gains less (None: never stop early)
    min_iterations: int = 1
    max_iterations: int = 15
    seed: int = 0
    pool_subsample: int | None = None  # score a seeded sample of the pool per round (Tsvigun et al. 2022)
    mc_passes: int = 5  # bald: Monte Carlo dropout passes
    options: Mapping[str, Any] = field(default_factory=dict)  # strategy options (llm_confidence_mix: base, llm_weight)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"active_learning.strategies must be among {sorted(STRATEGIES)}, got {self.strategy!r}")
        check_loop(self, where="active_learning.")


POSITIVE_COUNTS = ("batch_to_add", "fine_tune_epochs", "initial_epochs", "max_iterations", "mc_passes")


def check_loop(loop: Any, where: str = "") -> None:
    """The loop parameters' constraints, for both of their readers: a :class:`LoopSettings` and the
    YAML ``active_learning.loop`` block (:data:`llm_ner.parameters.LoopParams`, typed by LoopSettings'
    annotations). A ValueError names ``where`` + the first parameter that breaks one."""
    for name in POSITIVE_COUNTS:
        value = getattr(loop, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}{name} must be a positive integer, got {value!r}")
    if not 0 <= loop.min_iterations <= loop.max_iterations:
        raise ValueError(f"{where}min_iterations must be in [0, max_iterations], got {loop.min_iterations!r}")
    threshold = loop.improvement_threshold
    if threshold is not None and not threshold >= 0:  # not `< 0`: NaN is no threshold either
        raise ValueError(f"{where}improvement_threshold must be null or >= 0, got {threshold!r}")
    if loop.pool_subsample is not None and loop.pool_subsample < loop.batch_to_add:
        raise ValueError(f"{where}pool_subsample must be null or >= batch_to_add, got {loop.pool_subsample!r}")


def round_seed(settings: LoopSettings, iteration: int) -> int:
    """The seed of one round's draws (pool sample, ties, MC dropout, fine-tuning)."""
    return derive_seed(settings.seed, "round", iteration)


def checkpoint_name(iteration: int, added: int) -> str:
    """S0's branch names: ``active_iter_<i>_added_<n>``."""
    return f"active_iter_{iteration}_added_{added}"


def pool_predictions(
    tagger: Tagger, candidates: pd.DataFrame, settings: LoopSettings, iteration: int, batch_size: int
) -> PoolPredictions:
    """What the strategy reads: masked per-word probabilities, MC-dropout passes for ``bald``, the
    LLM's tags and confidence when the candidates carry them."""
    tokens = [list(t) for t in candidates["tokens"]]
    mc_samples = None
    if settings.strategy == "bald":
        mc_samples = mc_dropout_proba(tagger, tokens, settings.mc_passes, round_seed(settings, iteration), batch_size)
        probabilities = [samples.mean(axis=0) for samples in mc_samples]
    else:
        probabilities = predict_proba(tagger, tokens, batch_size, mask_truncated=True)
    llm_ids = None
    if "llm_tags" in candidates and candidates["llm_tags"].notna().all():
        llm_ids = [[tagger.label_to_id.get(tag, -1) for tag in tags] for tags in candidates["llm_tags"]]
    confidence = (
        candidates["sentence_confidence"].to_numpy(dtype=float) if "sentence_confidence" in candidates else None
    )
    return PoolPredictions(probabilities, mc_samples, llm_ids, confidence)


def choose(candidates: pd.DataFrame, scores: np.ndarray, count: int, seed: int) -> pd.DataFrame:
    """The ``count`` highest-scoring candidates; ties in a seeded order, not in corpus order."""
    return candidates.iloc[lowest_first(-np.asarray(scores, dtype=float), seed)[:count]]


def reveal(training: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """The training set with the chosen sentences' gold tags (replacing any LLM tags they had)."""
    gold = gold_rows(chosen)
    kept = training[~training["sentence_id"].isin(gold["sentence_id"])]
    return pd.concat([kept, gold], ignore_index=True)


def with_people_labels(chosen: pd.DataFrame, annotated: Mapping[int, Sequence[str]]) -> pd.DataFrame | None:
    """The chosen sentences with the tags people gave them in place of gold; None while some of
    them are not annotated yet."""
    if not chosen["sentence_id"].isin(list(annotated)).all():
        return None
    return chosen.assign(gold_tags=[list(annotated[i]) for i in chosen["sentence_id"]])


def active_learning_loop(
    start: Tagger,
    training: pd.DataFrame,
    pool: pd.DataFrame,
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]],
    settings: LoopSettings,
    training_config: TrainingConfig,
    on_checkpoint: Callable[[str, Tagger], None] | None = None,
    annotated: Mapping[int, Sequence[str]] | None = None,
    declined: Sequence[int] = (),
) -> pd.DataFrame:
    """Run the loop on a copy of ``start``; one history row per iteration (0 = the start model).

    ``training``: sentence_id, tokens, ner_tags, source, weight; ``pool``: sentence_id, tokens,
    gold_tags (and llm_tags / sentence_confidence for the LLM-aware strategies). ``evaluation_sets``
    must hold ``validation`` (drives stopping) and may hold ``test``. ``added_tokens`` counts the
    revealed labels (what the expert is paid for: :func:`price_rounds`).

    ``annotated`` (sentence id -> tags people gave it in Label Studio) replaces revealed gold: the
    loop runs as far as people have labelled, and the first round whose batch they have not all
    labelled ends it; that batch is the last row's ``next_batch_ids`` -- what to send them next.
    Rerun with more annotations, the loop repeats the same rounds (same seeds, same labels) and
    goes further. ``declined`` sentences (people skipped them) are never chosen; they stay in the
    pool sample, so skipping one changes a batch by that one sentence only.
    """
    if "validation" not in evaluation_sets:
        raise ValueError("active learning stops on validation F1: evaluation_sets needs 'validation'")
    tagger = start_model(start, training, settings, training_config)
    loop = RunningLoop(settings, training_config, evaluation_sets, pool, training, tagger, annotated, declined)
    previous = loop.record(0)
    for iteration in range(1, settings.max_iterations + 1):
        if loop.remaining.empty:
            break
        f1 = loop.run_round(iteration, on_checkpoint)  # None: people have not labelled the round's batch yet
        if f1 is None or loop.stops(iteration, gain=f1 - previous):
            break
        previous = f1
    return pd.DataFrame(loop.rows)


def start_model(
    start: Tagger, training: pd.DataFrame, settings: LoopSettings, training_config: TrainingConfig
) -> Tagger:
    """A copy of ``start`` (which stays as it is), first trained on the start set with S0's
    ``use_initial_training``."""
    tagger = copy.deepcopy(start)
    if settings.use_initial_training:
        initial = dataclasses.replace(training_config, epochs=settings.initial_epochs, seed=settings.seed)
        fit(tagger, labelled_sentences(training), initial)
    return tagger


@dataclass
class RunningLoop:
    """A loop under way: what it was given, and what it carries from round to round -- the model it
    fine-tunes, the training set (growing by the revealed sentences), the pool not revealed yet
    (``remaining``), the tokens revealed so far and one history row per iteration."""

    settings: LoopSettings
    training_config: TrainingConfig
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]]
    pool: pd.DataFrame
    training: pd.DataFrame
    tagger: Tagger
    annotated: Mapping[int, Sequence[str]] | None
    declined: Sequence[int]
    remaining: pd.DataFrame = field(init=False)
    added_tokens: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.remaining = self.pool

    @property
    def added(self) -> int:
        """Sentences revealed so far."""
        return len(self.pool) - len(self.remaining)

    def run_round(self, iteration: int, on_checkpoint: Callable[[str, Tagger], None] | None) -> float | None:
        """Score the pool, choose a batch, reveal its labels, fine-tune, record and checkpoint; the new
        validation F1, or None (and nothing learnt) while people have not labelled the batch."""
        started, seed = time.perf_counter(), round_seed(self.settings, iteration)
        candidates = self.remaining
        if self.settings.pool_subsample is not None:
            candidates = seeded_sample(self.remaining, self.settings.pool_subsample, seed)
        scores = self.scores(candidates, iteration, seed)
        scoring = time.perf_counter() - started
        chosen = self.expert_labels(choose(candidates, scores, self.settings.batch_to_add, seed), iteration)
        if chosen is None:
            return None
        self.learn(chosen, seed)
        f1 = self.record(iteration, time.perf_counter() - started, scoring, len(candidates), chosen["sentence_id"])
        if on_checkpoint is not None:
            on_checkpoint(checkpoint_name(iteration, self.added), self.tagger)
        return f1

    def scores(self, candidates: pd.DataFrame, iteration: int, seed: int) -> np.ndarray:
        """The strategy's score of each candidate. A sentence people declined scores -inf: it is never
        chosen, yet stays in the pool sample, so skipping one changes a batch by that one only."""
        batch_size = self.training_config.eval_batch_size
        predictions = pool_predictions(self.tagger, candidates, self.settings, iteration, batch_size)
        scores = score_pool(self.settings.strategy, predictions, seed=seed, **self.settings.options)
        if self.declined:
            scores = np.where(candidates["sentence_id"].isin(list(self.declined)), -np.inf, scores)
        return scores

    def expert_labels(self, chosen: pd.DataFrame, iteration: int) -> pd.DataFrame | None:
        """The chosen sentences as the expert labels them: their gold, or with ``annotated`` the tags
        people gave them -- None while people have not labelled them all; the batch is then the last
        row's ``next_batch_ids``, what to send them next."""
        if self.annotated is None:
            return chosen
        labelled = with_people_labels(chosen, self.annotated)
        if labelled is None:
            self.rows[-1]["next_batch_ids"] = " ".join(str(i) for i in chosen["sentence_id"])
            logger.info(
                "active learning %s seed=%d: round %d waits for %d sentences in Label Studio",
                self.settings.strategy,
                self.settings.seed,
                iteration,
                len(chosen),
            )
        return labelled

    def learn(self, chosen: pd.DataFrame, seed: int) -> None:
        """Reveal the chosen sentences (out of the pool, into the training set with source gold and
        weight 1) and fine-tune on the whole set, as S0 does."""
        self.training = reveal(self.training, chosen)
        self.remaining = self.remaining[~self.remaining["sentence_id"].isin(chosen["sentence_id"])]
        self.added_tokens += int(sum(len(t) for t in chosen["tokens"]))
        fine_tune = dataclasses.replace(self.training_config, epochs=self.settings.fine_tune_epochs, seed=seed)
        fit(self.tagger, labelled_sentences(self.training), fine_tune)

    def record(
        self, iteration: int, seconds: float = 0.0, scoring: float = 0.0, scored: int = 0, chosen: Sequence[int] = ()
    ) -> float:
        """Evaluate the model and add the iteration's history row (iteration 0, the start model, has
        nothing chosen, scored or timed); its validation F1."""
        scores = micro_scores(evaluate_on(self.tagger, self.evaluation_sets, self.training_config))
        row = {
            "strategy": self.settings.strategy,
            "seed": self.settings.seed,
            "iteration": iteration,
            "added": self.added,
            "added_tokens": self.added_tokens,
            "training_sentences": len(self.training),
            "pool_left": len(self.remaining),
            **scores,
            "chosen_ids": " ".join(str(i) for i in chosen),
            "seconds": seconds,
            "scored_sentences": scored,
            "scoring_sentences_per_second": scored / scoring if scoring else float("nan"),
        }
        self.rows.append(row)
        logger.info(
            "active learning %s seed=%d iteration %d: %d added, validation F1=%.4f",
            self.settings.strategy,
            self.settings.seed,
            iteration,
            self.added,
            row["validation_f1"],
        )
        return row["validation_f1"]

    def stops(self, iteration: int, gain: float) -> bool:
        """S0's early stop: validation F1 gained less than ``improvement_threshold`` (from
        ``min_iterations`` on)."""
        threshold = self.settings.improvement_threshold
        stop = threshold is not None and iteration >= self.settings.min_iterations and gain < threshold
        if stop:
            logger.info(
                "active learning %s seed=%d: validation F1 gained %.5f < %s, stopping",
                self.settings.strategy,
                self.settings.seed,
                gain,
                threshold,
            )
        return stop


def micro_scores(table: pd.DataFrame) -> dict[str, Any]:
    """Each split's micro F1, token accuracy and loss in an :func:`evaluate_on` table, as
    ``<split>_f1``, ``<split>_token_accuracy``, ``<split>_loss``."""
    micro = table[table["entity_type"] == "micro"].set_index("split")
    return {
        f"{split}_{score}": values[score]
        for split, values in micro.iterrows()
        for score in ("f1", "token_accuracy", "loss")
    }


@dataclass(frozen=True)
class ActiveLearningRun:
    """Grid job: one strategy x seed of the loop from ``start``; its history and, with
    ``keep_checkpoints``, every round's tagger by :func:`checkpoint_name`."""

    start: Tagger
    training: pd.DataFrame
    pool: pd.DataFrame
    evaluation_sets: Mapping[str, Sequence[LabelledSentence]]
    settings: LoopSettings
    training_config: TrainingConfig
    keep_checkpoints: bool = False
    annotated: Mapping[int, Sequence[str]] | None = None  # people's tags (expert_source label_studio)
    declined: tuple[int, ...] = ()  # sentences people skipped (a tuple: grid cells are fingerprinted)

    def run(self) -> CellOutput:
        checkpoints: dict[str, Tagger] = {}

        def keep(name: str, tagger: Tagger) -> None:
            checkpoints[name] = copy.deepcopy(tagger).cpu()

        history = active_learning_loop(
            self.start,
            self.training,
            self.pool,
            self.evaluation_sets,
            self.settings,
            self.training_config,
            on_checkpoint=keep if self.keep_checkpoints else None,
            annotated=self.annotated,
            declined=self.declined,
        )
        return CellOutput(history, {"checkpoints": checkpoints} if self.keep_checkpoints else {})


def price_rounds(history: pd.DataFrame, expert_usd: Callable[[int], float]) -> pd.DataFrame:
    """The history with ``expert_usd`` -- what the revealed labels cost (``expert_usd(tokens)``) --
    after ``added_tokens``."""
    priced = history.copy()
    priced.insert(
        priced.columns.get_loc("added_tokens") + 1, "expert_usd", [expert_usd(int(t)) for t in history["added_tokens"]]
    )
    return priced
