"""Chat backends behind one small interface: messages in, text plus token usage out.

* ``openai`` -- any OpenAI-compatible HTTP endpoint (OpenAI, Ollama, vLLM, LM Studio) through the
  ``openai`` SDK, with a requests/minute limit and retries with exponential backoff (or the
  server's ``Retry-After``) on transient failures (429, 5xx, timeouts, dropped connections);
* ``local`` -- the embedded GGUF model run in-process by ``cyllama`` (offline default).

The SDK's own retries are switched off so that every retry goes through tenacity, where it is
counted (the run reports them) and tested. Errors no retry can fix -- a wrong key, an exhausted
quota, an unknown model -- become one :class:`LLMServiceError` naming the model and endpoint.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import tenacity

from .local_model import LOCAL_MODELS, ensure_local_model
from .prompts import Messages
from .settings import ModelSettings

logger = logging.getLogger(__name__)

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_AFTER_CAP_S = 300.0  # a server asking for longer than this is treated as down
T = TypeVar("T")


class LLMServiceError(RuntimeError):
    """The service cannot answer any request as configured: stop the run (the message is one line)."""


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    # (token text, natural-log probability) per generated token, where the backend reports them
    token_logprobs: tuple[tuple[str, float], ...] | None = None


def completion_from_body(body: dict[str, Any], messages: Messages) -> Completion:
    """A chat-completion response body (an online reply, or one line of a batch job's output) ->
    text, token usage and, where the server sent them, token log-probabilities."""
    choices = body.get("choices") or []
    choice = choices[0] if choices else {}
    text = ((choice.get("message") or {}).get("content") or "") if choice else ""
    content = (choice.get("logprobs") or {}).get("content") if choice else None
    logprobs = tuple((t["token"], float(t["logprob"])) for t in content) if content else None
    usage = body.get("usage")
    if not usage:  # some servers omit usage; ~4 characters per token keeps costs roughly right
        return Completion(text, sum(len(m["content"]) for m in messages) // 4, len(text) // 4, logprobs)
    return Completion(text, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, logprobs)


class ChatBackend(Protocol):
    name: str  # the configured model name (llm_models.<name>)
    endpoint: str  # where requests go, for error messages (never a key)
    max_concurrency: int
    max_consecutive_failures: int
    supports_logprobs: bool
    identity: dict[str, Any]  # backend_identity(settings): part of the cache key
    counters: CallCounters  # requests and retries so far

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion: ...

    # several replies to one prompt (self-consistency samples), in order; a backend that can share
    # the prompt's work between them does
    def complete_many(self, messages: Messages, generations: Sequence[dict[str, Any]]) -> list[Completion]: ...


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


def _error_code(error: BaseException) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            return str(body.get("code") or body.get("type") or "")
    return ""


def _transient_reason(error: BaseException) -> str | None:
    """Why ``error`` is worth retrying, or None when retrying cannot help (bad key, bad request, no quota)."""
    import openai

    if isinstance(error, openai.APITimeoutError):  # subclass of APIConnectionError: test it first
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return None if _error_code(error) == "insufficient_quota" else "429"
        if error.status_code in (408, 409) or error.status_code >= 500:
            return str(error.status_code)
    return None


def _fatal_reason(error: BaseException) -> str | None:
    """A one-line explanation when ``error`` would fail every request alike, else None."""
    import openai

    if isinstance(error, openai.AuthenticationError):
        return "the API key was rejected (401); check llm_api.api_key in conf/local/credentials.yml or the key variable"
    if isinstance(error, openai.PermissionDeniedError):
        return "access denied (403): this key may not use this model"
    if isinstance(error, openai.NotFoundError):
        return "model or endpoint not found (404); check the model name and base_url"
    if isinstance(error, openai.RateLimitError) and _error_code(error) == "insufficient_quota":
        return "quota exhausted (429 insufficient_quota); add credit or use another key"
    return None


def retry_after_seconds(error: BaseException) -> float | None:
    """The wait a 429/503 asks for (``retry-after-ms`` or ``Retry-After`` in seconds or as a date)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        date = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, date.timestamp() - time.time()) if date else None


def normalise_base_url(base_url: str | None) -> str:
    """One spelling per endpoint: default filled in, scheme and host lower case, no trailing slash."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit((base_url or OPENAI_DEFAULT_BASE_URL).strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))


def backend_identity(settings: ModelSettings) -> dict[str, Any]:
    """What decides which model answers -- the cache key's first part. For an API: kind, normalised
    endpoint and model name; for the local model: its name, the GGUF file's pinned sha256 (checked
    when the file is assembled) and the context size."""
    if settings.backend == "openai":
        return {"backend": "openai", "endpoint": normalise_base_url(settings.base_url), "model": settings.model}
    return {
        "backend": "local",
        "model": settings.model,
        "sha256": LOCAL_MODELS[settings.model].sha256,
        "n_ctx": settings.n_ctx,
    }


class OpenAIBackend:
    supports_logprobs = True

    def __init__(self, settings: ModelSettings, api_key: str):
        import openai

        self.name = settings.name
        self.model = settings.model
        self.identity = backend_identity(settings)
        self.endpoint = self.identity["endpoint"]
        self.max_concurrency = settings.max_concurrency
        self.max_consecutive_failures = settings.max_consecutive_failures
        self.max_retries = settings.max_retries
        self.counters = CallCounters()
        self._client = openai.OpenAI(api_key=api_key, base_url=self.endpoint, timeout=settings.timeout_s, max_retries=0)
        self._limiter = RequestRateLimiter(settings.requests_per_minute)
        self._backoff = tenacity.wait_exponential_jitter(
            initial=settings.backoff_initial_s, max=settings.backoff_max_s, jitter=settings.backoff_initial_s
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        asked = retry_after_seconds(state.outcome.exception())
        return min(asked, RETRY_AFTER_CAP_S) if asked is not None else self._backoff(state)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception()
        reason = _transient_reason(error) or type(error).__name__
        self.counters.add_retry(reason)
        logger.warning(
            "%s: %s, retry %d/%d in %.1f s",
            self.name,
            reason,
            state.attempt_number,
            self.max_retries,
            state.upcoming_sleep,
        )

    def request(self, make: Callable[[Any], T]) -> T:
        """One API request, ``make(client)``, under the backend's rate limit and retries; an error no
        retry can fix becomes one :class:`LLMServiceError` line. Chat calls and batch jobs alike."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: _transient_reason(e) is not None),
            wait=self._wait,
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._limiter.wait()
                    self.counters.add_request()
                    return make(self._client)
        except Exception as error:
            reason = _fatal_reason(error)
            if reason is not None:
                raise LLMServiceError(f"model {self.name!r} ({self.model}) at {self.endpoint}: {reason}") from None
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion:
        response = self.request(
            lambda client: client.chat.completions.create(model=self.model, messages=messages, **generation)
        )
        return completion_from_body(response.model_dump(), messages)

    def complete_many(self, messages: Messages, generations: Sequence[dict[str, Any]]) -> list[Completion]:
        return [self.complete(messages, generation) for generation in generations]


class LocalBackend:
    """A GGUF model run in-process on llama.cpp (:class:`~llm_ner.llm.local_engine.LocalEngine`):
    a prompt's shared prefix is evaluated once, and sampled replies to one prompt decode side by side.
    llama.cpp contexts are not shared between threads: calls are serialised.

    cyllama 0.2.18 exposes no token probabilities (its ``get_logits`` fails), so confidence for
    the local model comes from self-consistency or strategy agreement, not log-probabilities.
    """

    max_concurrency = 1
    supports_logprobs = False

    def __init__(self, settings: ModelSettings, model_path: str | Path):
        self.name = settings.name
        self.model = settings.model
        self.identity = backend_identity(settings)
        self.model_path = Path(model_path)
        self.endpoint = f"local:{self.model_path}"
        self.n_ctx, self.n_threads, self.parallel_samples = (
            settings.n_ctx,
            settings.n_threads,
            settings.parallel_samples,
        )
        self.max_consecutive_failures = settings.max_consecutive_failures
        self.counters = CallCounters()
        self.reused_tokens = 0  # prompt tokens answered from the held KV state instead of evaluated
        self._engine = None
        self._lock = threading.Lock()

    def _load(self):
        from .local_engine import LocalEngine

        if self._engine is None:
            self._engine = LocalEngine(self.model_path, self.n_ctx, self.n_threads, self.parallel_samples)
        return self._engine

    def _check(self, generation: dict[str, Any]) -> None:
        if generation.get("logprobs"):
            raise LLMServiceError(f"model {self.name!r}: the local backend returns no log-probabilities")

    def _completion(self, reply) -> Completion:
        self.reused_tokens += reply.reused_tokens
        return Completion(reply.text, reply.prompt_tokens, reply.reply_tokens)

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion:
        self._check(generation)
        with self._lock:
            engine = self._load()
            self.counters.add_request()
            return self._completion(engine.generate(messages, generation))

    def complete_many(self, messages: Messages, generations: Sequence[dict[str, Any]]) -> list[Completion]:
        """Greedy replies one by one, then the sampled ones side by side off the same held prompt."""
        for generation in generations:
            self._check(generation)
        greedy = [i for i, g in enumerate(generations) if not g.get("temperature")]
        sampled = [i for i, g in enumerate(generations) if g.get("temperature")]
        replies: dict[int, Completion] = {}
        with self._lock:
            engine = self._load()
            for i in greedy:
                self.counters.add_request()
                replies[i] = self._completion(engine.generate(messages, generations[i]))
            if sampled:
                for _ in sampled:
                    self.counters.add_request()
                for i, reply in zip(sampled, engine.generate_parallel(messages, [generations[i] for i in sampled])):
                    replies[i] = self._completion(reply)
        return [replies[i] for i in range(len(generations))]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _resolve_api_key(settings: ModelSettings, credentials: dict[str, Any] | None) -> str:
    """Credentials first, then the environment variable named in ``api_key_env``."""
    key = (credentials or {}).get("api_key")
    key = key or (os.environ.get(settings.api_key_env) if settings.api_key_env else None)
    if not key:
        if settings.base_url:  # local servers (Ollama, vLLM, LM Studio) ignore the key
            return "not-needed"
        raise ValueError(
            f"model {settings.name!r}: no API key; set `api_key` under `llm_api` in "
            f"conf/local/credentials.yml or the environment variable {settings.api_key_env!r}"
        )
    return key


def make_backend(
    settings: ModelSettings, credentials: dict[str, Any] | None = None, model_dir: str | Path = "data/06_models"
) -> ChatBackend:
    """Build the backend configured under ``llm_models.<name>``."""
    if settings.backend == "openai":
        return OpenAIBackend(settings, _resolve_api_key(settings, credentials))
    return LocalBackend(settings, ensure_local_model(settings.model, model_dir))
