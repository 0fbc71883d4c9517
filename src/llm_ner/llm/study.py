"""Everything an annotation run needs, built once from the ``llm_annotation`` parameters.

Validates the configuration up front (so a typo fails before any paid call), builds backends
lazily (the local model is assembled only if a local model is actually used), and offers the
three things the pipeline does: estimate, annotate, and score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Mapping

import pandas as pd

from .annotate import AnnotationRun, annotate_sentences, choose_demonstrations
from .backends import ChatBackend, make_backend
from .cache import ResponseCache, request_key
from .costs import estimate_messages_tokens, price_of
from .prompts import PromptStrategy, VerificationPrompt, strategy_from_config, verification_from_config
from .retrieval import SIMILARITIES

logger = logging.getLogger(__name__)

_SETTINGS = {"generation", "cache_path", "model_dir", "similarity", "fuzzy_threshold", "show_progress"}


@dataclass
class AnnotationStudy:
    strategies: dict[str, PromptStrategy]
    models: dict[str, dict[str, Any]]
    generation: dict[str, Any]
    cache_path: str
    model_dir: str = "data/06_models"
    verification: VerificationPrompt | None = None
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    similarity: str = "embedding"
    fuzzy_threshold: float = 85.0
    show_progress: bool = True
    credentials: dict[str, Any] | None = field(default=None, repr=False)  # never logged, never cached
    _backends: dict[str, ChatBackend] = field(default_factory=dict, repr=False)
    _cache: ResponseCache | None = field(default=None, repr=False)
    _demonstrations: dict[tuple, list] = field(default_factory=dict, repr=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], models: Mapping[str, Any], prompts: Mapping[str, Any],
                    prices: Mapping[str, Any] | None = None, credentials: Mapping[str, Any] | None = None) -> "AnnotationStudy":
        """From the parameter groups ``llm_annotation``, ``llm_models``, ``llm_prompts`` and ``llm_prices``."""
        settings = {k: v for k, v in params.items() if k in _SETTINGS}
        unknown = set(prompts) - {"strategies", "verification"}
        if unknown:
            raise ValueError(f"llm_prompts: unknown key(s) {sorted(unknown)}; allowed: strategies, verification")
        strategies = {name: strategy_from_config(name, cfg) for name, cfg in (prompts.get("strategies") or {}).items()}
        models = {name: dict(cfg) for name, cfg in models.items()}
        verification = verification_from_config(prompts["verification"]) if prompts.get("verification") else None
        similarity = settings.get("similarity", "embedding")
        if similarity not in SIMILARITIES:
            raise ValueError(f"llm_annotation.similarity must be one of {sorted(SIMILARITIES)}, got {similarity!r}")
        if not settings.get("cache_path"):
            raise ValueError("llm_annotation.cache_path is required (an SQLite file for the response cache)")
        return cls(
            strategies=strategies, models=models, generation=dict(settings.get("generation") or {}),
            cache_path=settings["cache_path"], model_dir=settings.get("model_dir", "data/06_models"),
            verification=verification, prices=dict(prices or {}), similarity=similarity,
            fuzzy_threshold=float(settings.get("fuzzy_threshold", 85.0)), show_progress=bool(settings.get("show_progress", True)),
            credentials=dict(credentials or {}),
        )

    def pairs(self, evaluate: Mapping[str, Any] | None) -> list[tuple[str, str]]:
        """The strategy x model pairs to evaluate: every listed strategy with every listed model."""
        evaluate = evaluate or {}
        pairs = list(product(evaluate.get("strategies") or [], evaluate.get("models") or []))
        for strategy, model in pairs:
            self._check(strategy, model)
        return pairs

    def _check(self, strategy: str, model: str) -> None:
        if strategy not in self.strategies:
            raise ValueError(f"unknown strategy {strategy!r}; configured strategies: {sorted(self.strategies)}")
        if model not in self.models:
            raise ValueError(f"unknown model {model!r}; configured models: {sorted(self.models)}")
        if self.strategies[strategy].self_verify and self.verification is None:
            raise ValueError(f"strategy {strategy!r} has self_verify: true but `verification` is not configured")

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            self._cache = ResponseCache(self.cache_path)
        return self._cache

    def backend(self, model: str) -> ChatBackend:
        if model not in self._backends:
            self._backends[model] = make_backend(model, self.models[model], self.credentials, self.model_dir)
        return self._backends[model]

    def _identity(self, model: str) -> tuple[str, str]:
        settings = self.models[model]
        return settings["backend"], settings["model"]

    def _demonstrations_for(self, strategy: str, sentences: pd.DataFrame, pool: pd.DataFrame | None) -> list:
        """Demonstrations per sentence, retrieved once per strategy and sentence set (estimate, then annotate)."""
        pool_ids = None if pool is None else tuple(pool["sentence_id"])
        key = (strategy, tuple(tuple(tokens) for tokens in sentences["tokens"]), pool_ids)
        if key not in self._demonstrations:
            self._demonstrations[key] = choose_demonstrations(
                self.strategies[strategy], list(sentences["tokens"]), pool, self.similarity
            )
        return self._demonstrations[key]

    def annotate(self, strategy: str, model: str, sentences: pd.DataFrame, demonstration_pool: pd.DataFrame | None) -> AnnotationRun:
        self._check(strategy, model)
        chosen = self.strategies[strategy]
        demonstrations = self._demonstrations_for(strategy, sentences, demonstration_pool)
        return annotate_sentences(
            sentences, chosen, self.backend(model), model, self.cache, self.generation, demonstrations,
            self.verification, price_of(self.prices, self.models[model]["model"]), self.fuzzy_threshold, self.show_progress,
        )

    def estimate(self, strategy: str, model: str, sentences: pd.DataFrame, demonstration_pool: pd.DataFrame | None,
                 stage: str) -> dict[str, Any]:
        """Dry run: the calls still missing from the cache and what they would cost (no backend is built)."""
        self._check(strategy, model)
        chosen = self.strategies[strategy]
        demonstrations = self._demonstrations_for(strategy, sentences, demonstration_pool)
        backend_kind, api_model = self._identity(model)
        calls, cached, input_tokens = 0, 0, 0
        for tokens, demos in zip(sentences["tokens"], demonstrations):
            messages = chosen.messages(list(tokens), demos)
            if self.cache.get(request_key(backend_kind, api_model, messages, self.generation)) is not None:
                cached += 1
                continue
            calls += 1
            input_tokens += estimate_messages_tokens(messages)
        per_call_output = chosen.expected_output_tokens or int(self.generation.get("max_tokens", 256))
        output_tokens = calls * per_call_output
        if chosen.self_verify:  # at most one verification call per sentence, about as long as the prompt
            input_tokens *= 2
            output_tokens += calls * 20
        price = price_of(self.prices, api_model)
        return {
            "stage": stage, "strategy": strategy, "model": model, "sentences": len(sentences), "cached_calls": cached,
            "calls_to_make": calls * (2 if chosen.self_verify else 1), "estimated_input_tokens": input_tokens,
            "estimated_output_tokens": output_tokens, "estimated_cost_usd": price.cost(input_tokens, output_tokens),
            "estimated_cost_per_call_usd": price.cost(input_tokens, output_tokens) / calls if calls else 0.0,
            "input_per_million": price.input_per_million, "output_per_million": price.output_per_million,
        }

    def close(self) -> None:
        for backend in self._backends.values():
            if hasattr(backend, "close"):
                backend.close()
        self._backends.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None
