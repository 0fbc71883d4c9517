"""Typed, validated LLM settings, parsed once from the four YAML parameter groups.

``llm_annotation`` (run settings), ``llm_models`` (backends by name), ``llm_prompts`` (strategy
templates) and ``llm_prices`` (USD per 1M tokens) become one :class:`LLMSettings`. Every error
names the parameter path and what is allowed, so a typo fails before any paid call; the rest of
the code reads named fields instead of passing dictionaries around.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

from ..metrics import EVALUATION_MODES
from .costs import Price
from .local_model import LOCAL_MODELS
from ..tags import CONLL_2003, LabelSchema
from .prompts import (ForeignExamples, PromptStrategy, VerificationPrompt, schema_placeholders, strategy_from_config,
                      type_list_from_config, verification_from_config)
from .quality import FAILED_SENTENCE_POLICIES
from .retrieval import SIMILARITIES

BACKEND_KINDS = ("local", "openai")
CALL_MODES = ("online", "batch")
BATCH_PROVIDERS = ("openai", "files")
FAILED_BATCH_REQUESTS = ("online", "failed")
LABEL_SOURCES = ("annotate", "import")
CONFIDENCE_METHODS = ("none", "logprobs", "self_consistency", "strategy_agreement")

T = TypeVar("T")


def typed(cls: type[T], values: Mapping[str, Any] | None, path: str, **extra: Any) -> T:
    """``cls(**values)``, naming ``path`` and the allowed keys when a key is unknown."""
    values = dict(values or {})
    allowed = {f.name for f in dataclasses.fields(cls)} - set(extra)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")
    return cls(**values, **extra)


def check_choice(path: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{path} must be one of {list(allowed)}, got {value!r}")


def check_number(path: str, value: Any, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value > minimum if strict else value >= minimum)
    if not ok:
        raise ValueError(f"{path} must be a number {'>' if strict else '>='} {minimum}, got {value!r}")


def price_table(prices: Mapping[str, Any] | None, path: str = "cost_model.llm_prices",
                batch_discount: float = 0.0) -> dict[str, Price]:
    """``cost_model.llm_prices`` -> ``{API model name: Price}``, every price a number >= 0, batch
    replies ``batch_discount`` off (``cost_model.llm_batch_api.discount``). A model missing from it
    (a local one) costs nothing per token. Prices parsed before pass through."""
    table = {}
    for model, entry in (prices or {}).items():
        if isinstance(entry, Price):
            table[model] = entry
            continue
        price = table[model] = typed(Price, entry, f"{path}.{model}", batch_discount=batch_discount)
        for name in ("input_per_million", "output_per_million"):
            check_number(f"{path}.{model}.{name}", getattr(price, name), 0)
    return table


@dataclass(frozen=True)
class Generation:
    """Decoding settings sent with every request (and part of the cache key).

    ``stop`` ends a reply where small models start inventing the next ``Sentence:`` of a few-shot
    prompt; both backends honour it.
    """

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ("\nSentence:",)

    def __post_init__(self) -> None:
        check_number("llm_annotation.generation.max_tokens", self.max_tokens, 1)
        check_number("llm_annotation.generation.temperature", self.temperature, 0)
        object.__setattr__(self, "stop", tuple(self.stop or ()))

    def request(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed, "stop": list(self.stop)}


@dataclass(frozen=True)
class Confidence:
    """How the LLM's confidence in its labels is measured (see :mod:`llm_ner.llm.confidence`).

    ``logprobs`` -- the reply's own token probabilities (one call; backends that return them);
    ``self_consistency`` -- the usual reply plus ``samples`` - 1 more at ``temperature``, labels and
    confidence by vote;
    ``strategy_agreement`` -- the labeller's reply plus one reply per strategy in ``strategies``.
    """

    method: str = "none"
    samples: int = 5
    temperature: float = 0.7
    strategies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_choice("llm_annotation.confidence.method", self.method, CONFIDENCE_METHODS)
        check_number("llm_annotation.confidence.samples", self.samples, 2)
        check_number("llm_annotation.confidence.temperature", self.temperature, 0, strict=True)
        object.__setattr__(self, "strategies", tuple(self.strategies or ()))
        if self.method == "strategy_agreement" and not self.strategies:
            raise ValueError("llm_annotation.confidence.strategies must list at least one strategy for strategy_agreement")


@dataclass(frozen=True)
class ModelSettings:
    """One entry of ``llm_models``: which backend serves which model, and how to talk to it."""

    name: str
    backend: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    n_ctx: int = 4096
    n_threads: int | None = None  # local: llama.cpp's threads (null: its default, 4)
    parallel_samples: int = 4  # local: sampled replies to one prompt decoded side by side
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_concurrency: int = 4
    requests_per_minute: float | None = None
    # API failures in a row (after retries) that mean the service is down, not one bad sentence
    max_consecutive_failures: int = 5

    def __post_init__(self) -> None:
        path = f"llm_models.{self.name}"
        check_choice(f"{path}.backend", self.backend, BACKEND_KINDS)
        if not self.model:
            raise ValueError(f"{path}.model is required")
        check_number(f"{path}.max_concurrency", self.max_concurrency, 1)
        check_number(f"{path}.parallel_samples", self.parallel_samples, 1)
        if self.n_threads is not None:
            check_number(f"{path}.n_threads", self.n_threads, 1)
        check_number(f"{path}.max_retries", self.max_retries, 0)
        check_number(f"{path}.max_consecutive_failures", self.max_consecutive_failures, 1)
        check_number(f"{path}.timeout_s", self.timeout_s, 0, strict=True)
        if self.requests_per_minute is not None:
            check_number(f"{path}.requests_per_minute", self.requests_per_minute, 0, strict=True)


# settings that only mean something to one backend; the other rejects them
_OPENAI_ONLY = {"base_url", "api_key_env", "timeout_s", "max_retries", "backoff_initial_s", "backoff_max_s",
                "max_concurrency", "requests_per_minute"}
_LOCAL_ONLY = {"n_ctx", "n_threads", "parallel_samples"}


def model_settings(name: str, values: Mapping[str, Any]) -> ModelSettings:
    foreign = (_LOCAL_ONLY if values.get("backend") == "openai" else _OPENAI_ONLY) & set(values)
    if values.get("backend") in BACKEND_KINDS and foreign:
        raise ValueError(f"llm_models.{name}: setting(s) {sorted(foreign)} do not apply to backend {values['backend']!r}")
    settings = typed(ModelSettings, values, f"llm_models.{name}", name=name)
    if settings.backend == "local" and settings.model not in LOCAL_MODELS:
        raise ValueError(f"llm_models.{name}.model must be one of {sorted(LOCAL_MODELS)} for the local backend, got {settings.model!r}")
    return settings


@dataclass(frozen=True)
class BatchSettings:
    """``llm_annotation.batch``: how API models are asked in ``mode: batch`` (:mod:`llm_ner.llm.batch`).

    ``provider`` -- ``openai``: the Files and Batches endpoints of the model's base_url (OpenAI's
    Batch API); ``files``: the request files are only written, for vLLM's ``run_batch`` on another
    machine, and read back once its output file is put beside them.
    ``wait`` -- poll until the jobs end (``false``: submit, stop, and collect on a later run).
    ``failed_requests`` -- a request the job could not answer: ``online`` (asked again at list
    price) or ``failed`` (its sentence gets the job's error as status).
    ``max_submissions`` -- how often requests left over by an expired or cancelled job are sent again.
    """

    provider: str = "openai"
    directory: str = "data/03_primary/llm_batches"
    wait: bool = True
    poll_interval_s: float = 30.0
    poll_max_interval_s: float = 600.0
    completion_window: str = "24h"
    failed_requests: str = "online"
    max_submissions: int = 3
    max_requests_per_file: int = 50_000  # the Batch API's limits per input file
    max_bytes_per_file: int = 200_000_000

    def __post_init__(self) -> None:
        path = "llm_annotation.batch"
        check_choice(f"{path}.provider", self.provider, BATCH_PROVIDERS)
        check_choice(f"{path}.failed_requests", self.failed_requests, FAILED_BATCH_REQUESTS)
        check_choice(f"{path}.wait", self.wait, (True, False))
        check_number(f"{path}.poll_interval_s", self.poll_interval_s, 0, strict=True)
        check_number(f"{path}.poll_max_interval_s", self.poll_max_interval_s, self.poll_interval_s)
        for name in ("max_submissions", "max_requests_per_file", "max_bytes_per_file"):
            check_number(f"{path}.{name}", getattr(self, name), 1)


@dataclass(frozen=True)
class Evaluate:
    strategies: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnnotationSettings:
    """The ``llm_annotation`` group (sizes are read by the sampling nodes directly)."""

    cache_path: str
    seed: int = 2003
    quality_sample_size: int = 8
    pool_size: int = 60
    demonstration_pool_size: int = 200
    source: str = "annotate"
    import_path: str | None = None
    failed_sentences: str = "drop"
    evaluation_mode: str = "conlleval"
    labeller: Any = "best"  # "best" or {strategy, model}
    evaluate: Evaluate = field(default_factory=Evaluate)
    cache_namespace: str = ""  # separates caches of otherwise identical requests (e.g. repeated sampling studies)
    model_dir: str = "data/06_models"
    similarity: str = "embedding"
    fuzzy_threshold: float = 85.0
    show_progress: bool = True
    generation: Generation = field(default_factory=Generation)
    confidence: Confidence = field(default_factory=Confidence)
    # online | batch for every API model, or {model: online | batch}; local models always run in-process
    mode: Any = "online"
    batch: BatchSettings = field(default_factory=BatchSettings)

    def __post_init__(self) -> None:
        check_choice("llm_annotation.source", self.source, LABEL_SOURCES)
        for model, mode in (self.mode.items() if isinstance(self.mode, Mapping) else [(None, self.mode)]):
            check_choice("llm_annotation.mode" + (f".{model}" if model else ""), mode, CALL_MODES)
        check_choice("llm_annotation.failed_sentences", self.failed_sentences, FAILED_SENTENCE_POLICIES)
        check_choice("llm_annotation.similarity", self.similarity, tuple(SIMILARITIES))
        check_choice("llm_annotation.evaluation_mode", self.evaluation_mode, EVALUATION_MODES)
        if self.source == "import" and not self.import_path:
            raise ValueError("llm_annotation.source 'import' needs llm_annotation.import_path (a CoNLL file of LLM labels)")
        if not self.cache_path:
            raise ValueError("llm_annotation.cache_path is required (an SQLite file for the response cache)")
        labeller = self.labeller
        if not (labeller == "best" or (isinstance(labeller, Mapping) and set(labeller) == {"strategy", "model"})):
            raise ValueError(f"llm_annotation.labeller must be 'best' or {{strategy: ..., model: ...}}, got {labeller!r}")


@dataclass(frozen=True)
class LLMSettings:
    annotation: AnnotationSettings
    models: dict[str, ModelSettings]
    strategies: dict[str, PromptStrategy]
    verification: VerificationPrompt | None
    prices: dict[str, Price]
    schema: LabelSchema = CONLL_2003  # the run's entity types (parameter `entity_types`)
    unusable: dict[str, str] = field(default_factory=dict)  # strategy -> why it cannot run with this schema

    def price(self, model: str) -> Price:
        """Price of a configured model (by its API model name); unlisted models (local ones) cost nothing."""
        return self.prices.get(self.models[model].model, Price())

    def mode(self, model: str) -> str:
        """``online`` or ``batch``: how ``model`` is asked (a local model is always run in-process)."""
        mode = self.annotation.mode
        mode = mode.get(model, "online") if isinstance(mode, Mapping) else mode
        return mode if self.models[model].backend == "openai" else "online"

    def check_pair(self, strategy: str, model: str) -> None:
        if strategy in self.unusable:
            raise ValueError(self.unusable[strategy])
        if strategy not in self.strategies:
            raise ValueError(f"unknown strategy {strategy!r}; configured strategies: {sorted(self.strategies)}")
        if model not in self.models:
            raise ValueError(f"unknown model {model!r}; configured models: {sorted(self.models)}")
        if self.strategies[strategy].self_verify and self.verification is None:
            raise ValueError(f"strategy {strategy!r} has self_verify: true but llm_prompts.verification is not configured")

    def evaluated_pairs(self) -> list[tuple[str, str]]:
        """Every strategy of ``evaluate.strategies`` with every model of ``evaluate.models``."""
        return [(s, m) for s in self.annotation.evaluate.strategies for m in self.annotation.evaluate.models]


def parse_llm_settings(annotation: Mapping[str, Any], models: Mapping[str, Any], prompts: Mapping[str, Any],
                       prices: Mapping[str, Any] | None = None, schema: LabelSchema = CONLL_2003) -> LLMSettings:
    """The four parameter groups and the label schema -> :class:`LLMSettings`, every name cross-checked."""
    values = dict(annotation)
    values["generation"] = typed(Generation, values.get("generation"), "llm_annotation.generation")
    values["confidence"] = typed(Confidence, values.get("confidence"), "llm_annotation.confidence")
    values["batch"] = typed(BatchSettings, values.get("batch"), "llm_annotation.batch")
    evaluate = typed(Evaluate, values.get("evaluate"), "llm_annotation.evaluate")
    values["evaluate"] = Evaluate(tuple(evaluate.strategies or ()), tuple(evaluate.models or ()))
    settings = typed(AnnotationSettings, values, "llm_annotation")

    allowed = ["strategies", "type_lists", "verification"]
    unknown = set(prompts) - set(allowed)
    if unknown:
        raise ValueError(f"llm_prompts: unknown key(s) {sorted(unknown)}; allowed: {allowed}")
    type_lists = {name: type_list_from_config(name, cfg) for name, cfg in (prompts.get("type_lists") or {}).items()}
    values = schema_placeholders(schema, type_lists)
    strategies, unusable = {}, {}
    for name, config in (prompts.get("strategies") or {}).items():
        try:
            strategies[name] = strategy_from_config(name, config, schema, values)
        except ForeignExamples as error:  # an error only if the run uses it (check_pair)
            unusable[name] = str(error)
    verification = verification_from_config(prompts["verification"], values) if prompts.get("verification") else None
    parsed = LLMSettings(settings, {n: model_settings(n, v) for n, v in models.items()}, strategies, verification,
                         price_table(prices), schema, unusable)

    if isinstance(settings.mode, Mapping):
        for model in settings.mode:
            if model not in parsed.models:
                raise ValueError(f"llm_annotation.mode: unknown model {model!r}; configured models: {sorted(parsed.models)}")
            if settings.mode[model] == "batch" and parsed.models[model].backend != "openai":
                raise ValueError(f"llm_annotation.mode.{model}: batch needs an API model (backend openai); {model!r} "
                                 f"runs in-process (backend {parsed.models[model].backend!r})")
    for strategy, model in parsed.evaluated_pairs():
        parsed.check_pair(strategy, model)
    if isinstance(settings.labeller, Mapping):
        parsed.check_pair(settings.labeller["strategy"], settings.labeller["model"])
    for strategy in settings.confidence.strategies:
        if strategy in unusable:
            raise ValueError(unusable[strategy])
        if strategy not in strategies:
            raise ValueError(f"llm_annotation.confidence.strategies: unknown strategy {strategy!r}; configured: {sorted(strategies)}")
    return parsed
