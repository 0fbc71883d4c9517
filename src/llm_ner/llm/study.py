"""Everything an annotation run needs, built once from :class:`~llm_ner.llm.settings.LLMSettings`.

Builds backends lazily (the local model is assembled only if a local model is actually used),
and offers the three things the pipeline does: estimate, label (with the configured confidence
method, online or through batch jobs) and score.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from .annotate import AnnotationRun, LabellingJob, annotate_replies, choose_demonstrations, combine_by_vote
from .backends import ChatBackend, backend_identity, make_backend
from .batch import annotate_through_batches
from .cache import ResponseCache, request_key
from .constrained import with_reply_format
from .costs import estimate_messages_tokens, money_totals
from .quality import confidence_thresholds, markup_quality_row
from .runner import ReplyPending
from .settings import LLMSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


def every_pass(labellings: Sequence[Callable[[], T]]) -> list[T]:
    """Each labelling in turn; one whose replies wait for batch jobs does not stop the others from
    noting theirs (:class:`ReplyPending` is raised once, after all of them)."""
    results, pending = [], None
    for labelling in labellings:
        try:
            results.append(labelling())
        except ReplyPending as error:
            pending = error
    if pending is not None:
        raise pending
    return results


@dataclass
class AnnotationStudy:
    settings: LLMSettings
    _backends: dict[str, ChatBackend] = field(default_factory=dict, repr=False)
    _cache: ResponseCache | None = field(default=None, repr=False)
    _demonstrations: dict[tuple, list] = field(default_factory=dict, repr=False)

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            self._cache = ResponseCache(self.settings.annotation.cache_path)
        return self._cache

    def backend(self, model: str) -> ChatBackend:
        if model not in self._backends:
            backend = make_backend(
                self.settings.models[model], dict(self.settings.credentials), self.settings.annotation.model_dir
            )
            if self.settings.annotation.confidence.method == "logprobs" and not backend.supports_logprobs:
                raise ValueError(
                    f"llm_annotation.confidence.method 'logprobs' needs token log-probabilities, which model "
                    f"{model!r} ({self.settings.models[model].backend} backend) does not return; use "
                    f"self_consistency or strategy_agreement"
                )
            self._backends[model] = backend
        return self._backends[model]

    def _demonstrations_for(self, strategy: str, sentences: pd.DataFrame, pool: pd.DataFrame | None) -> list:
        """Demonstrations per sentence, retrieved once per strategy and sentence set (estimate, then annotate)."""
        pool_ids = None if pool is None else tuple(pool["sentence_id"])
        key = (strategy, tuple(tuple(tokens) for tokens in sentences["tokens"]), pool_ids)
        if key not in self._demonstrations:
            self._demonstrations[key] = choose_demonstrations(
                self.settings.strategies[strategy], list(sentences["tokens"]), pool, self.settings.annotation.similarity
            )
        return self._demonstrations[key]

    def _generations(self, strategy: str) -> list[tuple[str, dict[str, Any]]]:
        """(strategy, generation request) of every reply a sentence needs under the confidence method."""
        confidence = self.settings.annotation.confidence
        base = self.settings.annotation.generation
        if confidence.method == "self_consistency":
            # the labeller's own reply is the first vote (ties go to it), then samples - 1 at a temperature
            samples = [base] + [
                dataclasses.replace(base, temperature=confidence.temperature, seed=base.seed + i)
                for i in range(1, confidence.samples)
            ]
            return [(strategy, sample.request()) for sample in samples]
        if confidence.method == "strategy_agreement":
            others = [s for s in confidence.strategies if s != strategy]
            return [(s, base.request()) for s in (strategy, *others)]
        request = base.request()
        if confidence.method == "logprobs":
            request["logprobs"] = True
        return [(strategy, request)]

    def annotate(
        self, strategy: str, model: str, sentences: pd.DataFrame, demonstration_pool: pd.DataFrame | None
    ) -> AnnotationRun:
        """Labels for ``sentences`` by ``strategy`` x ``model``, with the configured confidence."""
        return self.annotate_pairs([(strategy, model)], sentences, demonstration_pool)[0]

    def annotate_pairs(
        self, pairs: Sequence[tuple[str, str]], sentences: pd.DataFrame, demonstration_pool: pd.DataFrame | None
    ) -> list[AnnotationRun]:
        """One run per (strategy, model) pair, in order. A model in ``mode: batch`` gets every reply
        its pairs miss from the cache through batch jobs -- all its pairs' requests together, so
        that evaluating four strategies waits for one round of jobs, not four."""
        for strategy, model in pairs:
            self.settings.check_pair(strategy, model)
        annotation = self.settings.annotation
        runs: dict[tuple[str, str], AnnotationRun] = {}
        for model in dict.fromkeys(model for _, model in pairs):
            strategies = [strategy for strategy, m in pairs if m == model]

            def label(
                backend: ChatBackend, received: Collection[str] = (), model: str = model, strategies: list = strategies
            ) -> list[AnnotationRun]:
                return every_pass(
                    [
                        lambda s=s: self._label(s, model, backend, sentences, demonstration_pool, received)
                        for s in strategies
                    ]
                )

            if self.settings.mode(model) == "batch":
                labelled = annotate_through_batches(
                    label, self.backend(model), self.cache, annotation.batch, annotation.cache_namespace
                )
            else:
                labelled = label(self.backend(model))
            runs.update(zip([(s, model) for s in strategies], labelled))
        return [runs[pair] for pair in pairs]

    def _label(
        self,
        strategy: str,
        model: str,
        backend: ChatBackend,
        sentences: pd.DataFrame,
        demonstration_pool: pd.DataFrame | None,
        received: Collection[str],
    ) -> AnnotationRun:
        annotation = self.settings.annotation
        requests_by_strategy: dict[str, list[dict[str, Any]]] = {}
        for name, request in self._generations(strategy):
            requests_by_strategy.setdefault(name, []).append(request)
        runs = every_pass(
            [  # one strategy's replies to a sentence go together
                lambda name=name, requests=requests: annotate_replies(
                    LabellingJob(
                        self.settings.strategies[name],
                        backend,
                        self.cache,
                        requests,
                        self.settings.verification,
                        self.settings.price(model),
                        annotation.fuzzy_threshold,
                        annotation.show_progress,
                        annotation.cache_namespace,
                    ),
                    sentences,
                    self._demonstrations_for(name, sentences, demonstration_pool),
                    received,
                )
                for name, requests in requests_by_strategy.items()
            ]
        )
        runs = [run for strategy_runs in runs for run in strategy_runs]
        return runs[0] if len(runs) == 1 else combine_by_vote(runs, strategy)

    def estimate(
        self, strategy: str, model: str, sentences: pd.DataFrame, demonstration_pool: pd.DataFrame | None, stage: str
    ) -> dict[str, Any]:
        """Dry run: the calls still missing from the cache and what they would cost (no model is loaded)."""
        self.settings.check_pair(strategy, model)
        identity = backend_identity(self.settings.models[model])
        namespace = self.settings.annotation.cache_namespace
        calls, cached, input_tokens, output_tokens = 0, 0, 0, 0
        for name, request in self._generations(strategy):
            chosen = self.settings.strategies[name]
            per_call_output = chosen.expected_output_tokens or int(request["max_tokens"])
            for tokens, demos in zip(
                sentences["tokens"], self._demonstrations_for(name, sentences, demonstration_pool)
            ):
                messages = chosen.messages(list(tokens), demos)
                sent = with_reply_format(request, chosen.reply_format(list(tokens)))
                if self.cache.get(request_key(identity, messages, sent, namespace)) is not None:
                    cached += 1
                    continue
                verify = 2 if chosen.self_verify else 1  # at most one verification call, about as long as the prompt
                calls += verify
                input_tokens += verify * estimate_messages_tokens(messages)
                output_tokens += per_call_output + (20 if chosen.self_verify else 0)
        price, mode = self.settings.price(model), self.settings.mode(model)
        cost = price.cost(input_tokens, output_tokens, mode)
        return {
            "stage": stage,
            "strategy": strategy,
            "model": model,
            "mode": mode,
            "sentences": len(sentences),
            "confidence": self.settings.annotation.confidence.method,
            "cached_calls": cached,
            "calls_to_make": calls,
            "estimated_input_tokens": input_tokens,
            "estimated_output_tokens": output_tokens,
            "estimated_cost_usd": cost,
            "estimated_cost_per_call_usd": cost / calls if calls else 0.0,
            "input_per_million": price.input_per_million,
            "output_per_million": price.output_per_million,
        }

    def close(self) -> None:
        for backend in self._backends.values():
            if hasattr(backend, "close"):
                backend.close()
        self._backends.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None


def score_pairs(
    settings: LLMSettings, sample: pd.DataFrame, demonstration_pool: pd.DataFrame | None
) -> tuple[list[dict[str, Any]], list[pd.DataFrame], list[pd.DataFrame]]:
    """Every evaluated strategy x model (``settings.evaluated_pairs()``) on a gold-labelled
    ``sample`` (``ner_tags``): a markup-quality row, the labels behind it, and F1 of the labels
    kept above each confidence threshold, per pair."""
    study = AnnotationStudy(settings)
    mode = settings.annotation.evaluation_mode
    rows, labels, thresholds = [], [], []
    try:
        for run in study.annotate_pairs(settings.evaluated_pairs(), sample, demonstration_pool):
            rows.append(
                {
                    **markup_quality_row(run.labels, mode, settings.schema),
                    "confidence": settings.annotation.confidence.method,
                    "retries": run.retries,
                }
            )
            labels.append(run.labels)
            thresholds.append(confidence_thresholds(run.labels, mode=mode))
    finally:
        study.close()
    return rows, labels, thresholds


def label_with_labeller(
    settings: LLMSettings, sentences: pd.DataFrame, demonstration_pool: pd.DataFrame | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``sentences`` labelled by the pinned labeller (``settings.annotation.labeller``), and their
    money: what it cost, what was estimated before the first call, the statuses."""
    annotation, labeller = settings.annotation, settings.annotation.labeller
    study = AnnotationStudy(settings)
    try:
        estimate = study.estimate(labeller["strategy"], labeller["model"], sentences, demonstration_pool, "labelling")
        logger.info(
            "labelling %d sentences with %s x %s: %d calls to make, estimated $%.4f",
            len(sentences),
            labeller["strategy"],
            labeller["model"],
            estimate["calls_to_make"],
            estimate["estimated_cost_usd"],
        )
        run = study.annotate(labeller["strategy"], labeller["model"], sentences, demonstration_pool)
    finally:
        study.close()
    labels = run.labels
    spend = {
        "stage": "labelling",
        "source": "annotate",
        "strategy": labeller["strategy"],
        "model": labeller["model"],
        "mode": settings.mode(labeller["model"]),
        "confidence": annotation.confidence.method,
        "sentences": len(labels),
        "statuses": {k: int(v) for k, v in labels["status"].value_counts().items()},
        "retries": run.retries,
        **money_totals(labels),
        "estimate": estimate,
    }
    return labels, spend
