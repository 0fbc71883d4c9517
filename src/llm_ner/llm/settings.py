"""Typed, validated LLM settings, parsed once from the four YAML parameter groups.

``llm_annotation`` (run settings), ``llm_models`` (backends by name), ``llm_prompts`` (strategy
templates) and ``llm_prices`` (USD per 1M tokens) become one :class:`LLMSettings`. The groups are
frozen pydantic dataclasses (:func:`llm_ner.typed.settings`): every error names the parameter path
and what is allowed (:func:`llm_ner.typed.parse`), so a typo fails before any paid call; the rest of
the code reads named fields instead of passing dictionaries around.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from ..metrics import EVALUATION_MODES
from ..tags import CONLL_2003, LabelSchema
from ..typed import parse, settings, unknown_key
from .costs import Price
from .local_model import LOCAL_MODELS
from .prompts import (
    ForeignExamples,
    PromptStrategy,
    VerificationPrompt,
    schema_placeholders,
    strategy_from_config,
    type_list_from_config,
    verification_from_config,
)
from .quality import FAILED_SENTENCE_POLICIES
from .retrieval import SIMILARITIES

BACKEND_KINDS = ("local", "openai")
CALL_MODES = ("online", "batch")
BATCH_PROVIDERS = ("openai", "files")
FAILED_BATCH_REQUESTS = ("online", "failed")
LABEL_SOURCES = ("annotate", "import", "simulated")
CONFIDENCE_METHODS = ("none", "logprobs", "self_consistency", "strategy_agreement")

# the choices above as types: pydantic checks them and names the allowed values
BackendKind = Literal[BACKEND_KINDS]
BatchProvider = Literal[BATCH_PROVIDERS]
FailedBatchRequests = Literal[FAILED_BATCH_REQUESTS]
LabelSource = Literal[LABEL_SOURCES]
ConfidenceMethod = Literal[CONFIDENCE_METHODS]
FailedSentencePolicy = Literal[FAILED_SENTENCE_POLICIES]
EvaluationMode = Literal[EVALUATION_MODES]
Similarity = Literal[tuple(SIMILARITIES)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


def _none_is_empty(value: Any) -> Any:
    """A YAML ``null`` where a list is expected: the empty tuple."""
    return () if value is None else value


def _injected(values: Mapping[str, Any] | None, path: str, **injected: Any) -> dict[str, Any]:
    """``values`` plus keys the code supplies (not the YAML): such a key in ``values`` is an unknown
    parameter, reported as :func:`llm_ner.typed.parse` reports one."""
    values = dict(values or {})
    given = [unknown_key(f"{path}.{key}", values[key]) for key in injected if key in values]
    if given:
        raise ValueError("; ".join(given))
    return {**values, **injected}


def model_price(models: Mapping[str, ModelSettings], prices: Mapping[str, Price], name: str) -> Price:
    """A configured model's price (by its API model name); unlisted models (local ones) cost nothing."""
    return prices.get(models[name].model, Price())


def price_table(
    prices: Mapping[str, Any] | None, path: str = "cost_model.llm_prices", batch_discount: float = 0.0
) -> dict[str, Price]:
    """``cost_model.llm_prices`` -> ``{API model name: Price}``, every price a number >= 0, batch
    replies ``batch_discount`` off (``cost_model.llm_batch_api.discount``). A model missing from it
    (a local one) costs nothing per token. Prices parsed before pass through."""
    return {
        model: entry
        if isinstance(entry, Price)
        else parse(Price, _injected(entry, f"{path}.{model}", batch_discount=batch_discount), f"{path}.{model}")
        for model, entry in (prices or {}).items()
    }


@settings
class Generation:
    """Decoding settings sent with every request (and part of the cache key).

    ``stop`` ends a reply where small models start inventing the next ``Sentence:`` of a few-shot
    prompt; both backends honour it.
    """

    max_tokens: PositiveInt = 256
    temperature: NonNegativeFloat = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ("\nSentence:",)

    _stop = field_validator("stop", mode="before")(_none_is_empty)

    def request(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@settings
class Confidence:
    """How the LLM's confidence in its labels is measured (see :mod:`llm_ner.llm.confidence`).

    ``logprobs`` -- the reply's own token probabilities (one call; backends that return them);
    ``self_consistency`` -- the usual reply plus ``samples`` - 1 more at ``temperature``, labels and
    confidence by vote;
    ``strategy_agreement`` -- the labeller's reply plus one reply per strategy in ``strategies``.
    """

    method: ConfidenceMethod = "none"
    samples: Annotated[int, Field(ge=2)] = 5
    temperature: PositiveFloat = 0.7
    strategies: tuple[str, ...] = ()

    _strategies = field_validator("strategies", mode="before")(_none_is_empty)

    def __post_init__(self) -> None:
        if self.method == "strategy_agreement" and not self.strategies:
            raise ValueError("strategies must list at least one strategy for strategy_agreement")  # named by parse


@settings
class ModelSettings:
    """One entry of ``llm_models``: which backend serves which model, and how to talk to it.
    ``name`` is the entry's key, supplied by :func:`model_settings`."""

    name: str
    backend: BackendKind
    model: NonEmptyStr
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    n_ctx: PositiveInt = 4096
    n_threads: PositiveInt | None = None  # local: llama.cpp's threads (null: its default, 4)
    parallel_samples: PositiveInt = 4  # local: sampled replies to one prompt decoded side by side
    timeout_s: PositiveFloat = 60.0
    max_retries: NonNegativeInt = 5
    backoff_initial_s: NonNegativeFloat = 1.0
    backoff_max_s: NonNegativeFloat = 60.0
    max_concurrency: PositiveInt = 4
    requests_per_minute: PositiveFloat | None = None
    # API failures in a row (after retries) that mean the service is down, not one bad sentence
    max_consecutive_failures: PositiveInt = 5


# settings that only mean something to one backend; the other rejects them
_OPENAI_ONLY = {
    "base_url",
    "api_key_env",
    "timeout_s",
    "max_retries",
    "backoff_initial_s",
    "backoff_max_s",
    "max_concurrency",
    "requests_per_minute",
}
_LOCAL_ONLY = {"n_ctx", "n_threads", "parallel_samples"}


def model_settings(name: str, values: Mapping[str, Any]) -> ModelSettings:
    """``llm_models.<name>`` as :class:`ModelSettings`; an error names ``llm_models.<name>.<field>``."""
    path = f"llm_models.{name}"
    foreign = (_LOCAL_ONLY if values.get("backend") == "openai" else _OPENAI_ONLY) & set(values)
    if values.get("backend") in BACKEND_KINDS and foreign:
        raise ValueError(f"{path}: setting(s) {sorted(foreign)} do not apply to backend {values['backend']!r}")
    settings = parse(ModelSettings, _injected(values, path, name=name), path)
    if settings.backend == "local" and settings.model not in LOCAL_MODELS:
        raise ValueError(
            f"{path}.model: Input should be one of {sorted(LOCAL_MODELS)} for the local backend, got {settings.model!r}"
        )
    return settings


@settings
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

    provider: BatchProvider = "openai"
    directory: str = "data/03_primary/llm_batches"
    wait: bool = True
    poll_interval_s: PositiveFloat = 30.0
    poll_max_interval_s: PositiveFloat = 600.0
    completion_window: str = "24h"
    failed_requests: FailedBatchRequests = "online"
    max_submissions: PositiveInt = 3
    max_requests_per_file: PositiveInt = 50_000  # the Batch API's limits per input file
    max_bytes_per_file: PositiveInt = 200_000_000

    def __post_init__(self) -> None:
        if self.poll_max_interval_s < self.poll_interval_s:
            raise ValueError(
                f"poll_max_interval_s must be >= poll_interval_s ({self.poll_interval_s}), "
                f"got {self.poll_max_interval_s}"
            )


@settings
class Simulation:
    """``llm_annotation.simulation``: with ``source: simulated`` the pool's labels are made by
    :mod:`llm_ner.llm.simulated` from its gold -- the errors of a real labeller (``profile_from``:
    its CoNLL labels of train sentences, e.g. the seed's llama-3.1-405b file) scaled to
    ``target_label_f1`` (null: that labeller's own F1). A what-if for the study, not a labelling method."""

    profile_from: str | None = None
    target_label_f1: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: NonNegativeInt = 24


@settings
class Evaluate:
    strategies: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    _lists = field_validator("strategies", "models", mode="before")(_none_is_empty)


@settings
class AnnotationSettings:
    """The ``llm_annotation`` group (sizes are read by the sampling nodes directly)."""

    cache_path: NonEmptyStr  # an SQLite file for the response cache
    seed: int = 2003
    quality_sample_size: NonNegativeInt = 8
    pool_size: NonNegativeInt = 60
    demonstration_pool_size: NonNegativeInt = 200
    source: LabelSource = "annotate"
    import_path: str | None = None
    failed_sentences: FailedSentencePolicy = "drop"
    evaluation_mode: EvaluationMode = "conlleval"
    labeller: Any = "best"  # "best" or {strategy, model}
    evaluate: Evaluate = field(default_factory=Evaluate)
    cache_namespace: str = ""  # separates caches of otherwise identical requests (e.g. repeated sampling studies)
    model_dir: str = "data/06_models"
    similarity: Similarity = "embedding"
    fuzzy_threshold: Annotated[float, Field(ge=0, le=100)] = 85.0
    show_progress: bool = True
    generation: Generation = field(default_factory=Generation)
    confidence: Confidence = field(default_factory=Confidence)
    # online | batch for every API model, or {model: online | batch}; local models always run in-process
    mode: Any = "online"
    batch: BatchSettings = field(default_factory=BatchSettings)
    simulation: Simulation = field(default_factory=Simulation)

    @field_validator("generation", "confidence", "batch", "evaluate", "simulation", mode="before")
    @classmethod
    def _null_is_defaults(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("labeller")
    @classmethod
    def _labeller(cls, labeller: Any) -> Any:
        if not (labeller == "best" or (isinstance(labeller, Mapping) and set(labeller) == {"strategy", "model"})):
            raise ValueError(f"must be 'best' or {{strategy: ..., model: ...}}, got {labeller!r}")
        return labeller

    @field_validator("mode")
    @classmethod
    def _mode(cls, mode: Any) -> Any:
        allowed = " or ".join(map(repr, CALL_MODES))
        if isinstance(mode, Mapping):
            for model, each in mode.items():
                if each not in CALL_MODES:
                    raise ValueError(f"Input should be {allowed} for model {model!r}, got {each!r}")
            return dict(mode)
        if mode not in CALL_MODES:
            raise ValueError(f"Input should be {allowed} (or a map of model to {allowed}), got {mode!r}")
        return mode

    def __post_init__(self) -> None:
        if self.source == "import" and not self.import_path:
            raise ValueError("source 'import' needs import_path (a CoNLL file of LLM labels)")
        if self.source == "simulated" and not self.simulation.profile_from:
            raise ValueError(
                "source 'simulated' needs simulation.profile_from (a CoNLL file of a real "
                "labeller's labels of train sentences, whose errors are simulated)"
            )


@dataclass(frozen=True)
class LLMSettings:
    annotation: AnnotationSettings
    models: dict[str, ModelSettings]
    strategies: dict[str, PromptStrategy]
    verification: VerificationPrompt | None
    prices: dict[str, Price]
    schema: LabelSchema = CONLL_2003  # the run's entity types (parameter `entity_types`)
    unusable: dict[str, str] = field(default_factory=dict)  # strategy -> why it cannot run with this schema
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)  # API keys: never logged, never cached

    def price(self, model: str) -> Price:
        return model_price(self.models, self.prices, model)

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
            raise ValueError(
                f"strategy {strategy!r} has self_verify: true but llm_prompts.verification is not configured"
            )

    def evaluated_pairs(self) -> list[tuple[str, str]]:
        """Every strategy of ``evaluate.strategies`` with every model of ``evaluate.models``."""
        return [(s, m) for s in self.annotation.evaluate.strategies for m in self.annotation.evaluate.models]


def parse_llm_settings(
    annotation: Mapping[str, Any] | AnnotationSettings,
    models: Mapping[str, Any],
    prompts: Mapping[str, Any],
    prices: Mapping[str, Any] | None = None,
    schema: LabelSchema = CONLL_2003,
) -> LLMSettings:
    """The four parameter groups and the label schema -> :class:`LLMSettings`, every name cross-checked.
    ``annotation`` may already be an :class:`AnnotationSettings` (as Kedro validates it)."""
    settings = parse(AnnotationSettings, annotation, "llm_annotation")  # a parsed one passes through

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
    parsed = LLMSettings(
        settings,
        {n: v if isinstance(v, ModelSettings) else model_settings(n, v) for n, v in models.items()},
        strategies,
        verification,
        price_table(prices),
        schema,
        unusable,
    )

    if isinstance(settings.mode, Mapping):
        for model in settings.mode:
            if model not in parsed.models:
                raise ValueError(
                    f"llm_annotation.mode: unknown model {model!r}; configured models: {sorted(parsed.models)}"
                )
            if settings.mode[model] == "batch" and parsed.models[model].backend != "openai":
                raise ValueError(
                    f"llm_annotation.mode.{model}: batch needs an API model (backend openai); {model!r} "
                    f"runs in-process (backend {parsed.models[model].backend!r})"
                )
    for strategy, model in parsed.evaluated_pairs():
        parsed.check_pair(strategy, model)
    if isinstance(settings.labeller, Mapping):
        parsed.check_pair(settings.labeller["strategy"], settings.labeller["model"])
    for strategy in settings.confidence.strategies:
        if strategy in unusable:
            raise ValueError(unusable[strategy])
        if strategy not in strategies:
            raise ValueError(
                f"llm_annotation.confidence.strategies: unknown strategy {strategy!r}; configured: {sorted(strategies)}"
            )
    return parsed


@dataclass(frozen=True)
class LLMAccess:
    """How this run reaches its LLMs: every ``llm_models`` entry, their list prices by API model name
    (``cost_model.llm_prices``, the batch discount applied), the credentials of API models (never
    logged, never cached), and where replies are cached and local models live (``llm_annotation``)."""

    models: dict[str, ModelSettings]
    prices: dict[str, Price]
    cache_path: str
    model_dir: str | None
    show_progress: bool
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def model(self, name: str, path: str) -> ModelSettings:
        """The entry ``name``; an unknown one names ``path`` and the configured models."""
        if name not in self.models:
            raise ValueError(f"{path}: unknown model {name!r}; configured models: {sorted(self.models)}")
        return self.models[name]

    def price(self, name: str) -> Price:
        return model_price(self.models, self.prices, name)
