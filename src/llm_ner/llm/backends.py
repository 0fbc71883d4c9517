"""Chat backends behind one small interface: messages in, text plus token usage out.

* ``openai`` -- any OpenAI-compatible HTTP endpoint (OpenAI, Ollama, vLLM, LM Studio) through the
  ``openai`` SDK, with a requests/minute limit and retries with exponential backoff on transient
  failures (429, 5xx, timeouts, dropped connections);
* ``local`` -- the embedded GGUF model run in-process by ``cyllama`` (offline default).

The SDK's own retries are switched off so that every retry goes through tenacity, where it is
counted (the run reports them) and tested.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import tenacity

from .local_model import LOCAL_MODELS, ensure_local_model

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int


class ChatBackend(Protocol):
    kind: str  # registry name, part of the cache key
    model: str  # model name, part of the cache key
    max_concurrency: int

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion: ...


class RequestRateLimiter:
    """Spaces request starts at least ``60 / requests_per_minute`` seconds apart (thread-safe)."""

    def __init__(self, requests_per_minute: float | None, clock: Callable[[], float] = time.monotonic):
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be positive or null, got {requests_per_minute!r}")
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._clock = clock
        self._next_start = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)


@dataclass
class CallCounters:
    """What a backend did, for logs and tests: requests sent, retries, and what triggered them."""

    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_request(self) -> None:
        with self._lock:
            self.requests += 1

    def add_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1


def _transient_reason(error: BaseException) -> str | None:
    """Why ``error`` is worth retrying, or None when retrying cannot help (bad key, bad request)."""
    import openai

    if isinstance(error, openai.APITimeoutError):  # subclass of APIConnectionError: test it first
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return "429"
        if error.status_code in (408, 409) or error.status_code >= 500:
            return str(error.status_code)
    return None


class OpenAIBackend:
    kind = "openai"

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
    ):
        import openai

        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.counters = CallCounters()
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)
        self._limiter = RequestRateLimiter(requests_per_minute)
        self._wait = tenacity.wait_exponential_jitter(initial=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception()
        reason = _transient_reason(error) or type(error).__name__
        self.counters.add_retry(reason)
        logger.warning("%s: %s, retry %d/%d", self.model, reason, state.attempt_number, self.max_retries)

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: _transient_reason(e) is not None),
            wait=self._wait,
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self._limiter.wait()
                self.counters.add_request()
                response = self._client.chat.completions.create(model=self.model, messages=messages, **generation)
        text = (response.choices[0].message.content or "") if response.choices else ""
        usage = response.usage
        if usage is None:  # some servers omit usage; ~4 characters per token keeps costs roughly right
            return Completion(text, sum(len(m["content"]) for m in messages) // 4, len(text) // 4)
        return Completion(text, usage.prompt_tokens or 0, usage.completion_tokens or 0)


class LocalBackend:
    """A GGUF model run in-process by cyllama; llama.cpp contexts are not shared between threads."""

    kind = "local"
    max_concurrency = 1

    def __init__(self, model: str, model_path: str | Path, n_ctx: int = 4096, n_threads: int | None = None):
        self.model = model
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.counters = CallCounters()
        self._llm = None
        self._lock = threading.Lock()

    def _load(self):
        from cyllama import LLM, GenerationConfig

        if self._llm is None:
            self._llm = LLM(str(self.model_path), config=GenerationConfig(n_ctx=self.n_ctx, n_gpu_layers=0))
        return self._llm

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion:
        from cyllama import GenerationConfig

        config = GenerationConfig(
            max_tokens=generation.get("max_tokens", 256),
            temperature=generation.get("temperature", 0.0),
            seed=generation.get("seed", 0),
            n_ctx=self.n_ctx,
            n_gpu_layers=0,
        )
        with self._lock:
            llm = self._load()
            self.counters.add_request()
            response = llm.chat(messages, config=config)
        stats = response.stats
        return Completion(response.text, stats.prompt_tokens if stats else 0, stats.generated_tokens if stats else 0)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def _resolve_api_key(settings: dict[str, Any], credentials: dict[str, Any] | None) -> str:
    """Credentials first, then the environment variable named in ``api_key_env``."""
    key = (credentials or {}).get("api_key")
    env_name = settings.get("api_key_env", "OPENAI_API_KEY")
    key = key or (os.environ.get(env_name) if env_name else None)
    if not key:
        if settings.get("base_url"):  # local servers (Ollama, vLLM, LM Studio) ignore the key
            return "not-needed"
        raise ValueError(
            f"model {settings.get('model')!r}: no API key; set `api_key` under `llm_api` in "
            f"conf/local/credentials.yml or the environment variable {env_name!r}"
        )
    return key


_OPENAI_SETTINGS = {
    "backend", "model", "base_url", "api_key_env", "timeout_s", "max_retries", "backoff_initial_s",
    "backoff_max_s", "max_concurrency", "requests_per_minute",
}
_LOCAL_SETTINGS = {"backend", "model", "n_ctx"}


def _check_settings(name: str, settings: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(settings) - allowed
    if unknown:
        raise ValueError(f"model {name!r}: unknown setting(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _build_openai(name: str, settings: dict[str, Any], credentials: dict[str, Any] | None, model_dir: str | Path) -> ChatBackend:
    _check_settings(name, settings, _OPENAI_SETTINGS)
    options = {k: v for k, v in settings.items() if k not in ("backend", "model", "api_key_env")}
    return OpenAIBackend(model=settings["model"], api_key=_resolve_api_key(settings, credentials), **options)


def _build_local(name: str, settings: dict[str, Any], credentials: dict[str, Any] | None, model_dir: str | Path) -> ChatBackend:
    _check_settings(name, settings, _LOCAL_SETTINGS)
    model = settings["model"]
    if model not in LOCAL_MODELS:
        raise ValueError(f"model {name!r}: local `model` must be one of {sorted(LOCAL_MODELS)}, got {model!r}")
    path = ensure_local_model(model, model_dir)
    return LocalBackend(model=model, model_path=path, n_ctx=settings.get("n_ctx", 4096))


BACKENDS: dict[str, Callable[..., ChatBackend]] = {"openai": _build_openai, "local": _build_local}


def make_backend(
    name: str, settings: dict[str, Any], credentials: dict[str, Any] | None = None, model_dir: str | Path = "data/06_models"
) -> ChatBackend:
    """Build the backend configured under ``models.<name>`` in the parameters."""
    backend = settings.get("backend")
    if backend not in BACKENDS:
        raise ValueError(f"model {name!r}: `backend` must be one of {sorted(BACKENDS)}, got {backend!r}")
    if not settings.get("model"):
        raise ValueError(f"model {name!r}: `model` is required")
    return BACKENDS[backend](name, settings, credentials, model_dir)
