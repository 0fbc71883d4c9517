"""Every sentence of a run through one backend, on its thread pool (``backend.max_concurrency``
workers), under the run's fault rules -- the same for NER labels and topic labels:

- a sentence whose call still fails after the backend's retries is the task's to record (it gets
  a failed status) and the run goes on;
- a service that cannot answer at all stops the run at once: an error no retry can fix (bad key,
  no quota, unknown model: :class:`LLMServiceError`), or ``max_consecutive_failures`` sentences in
  a row whose calls failed (a dead host). Replies received before the stop stay in the cache, so
  the rerun pays only for the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Generic, TypeVar

from tqdm.auto import tqdm

from .backends import ChatBackend, Completion, LLMServiceError

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


class SentenceCallFailed(Exception):
    """This sentence's call failed after every retry (or its batch request failed): record it as
    failed with ``reason``, the run goes on."""

    def __init__(self, error: BaseException | str, reason: str | None = None):
        super().__init__(error if isinstance(error, str) else f"{type(error).__name__}: {error}")
        self.reason = reason or f"api_error:{type(error).__name__}"


class ReplyPending(Exception):
    """A reply is not there yet -- a batch job is to bring it: the sentence waits for a later pass.
    :func:`run_each` tries every other sentence first, then raises it once for all of them."""


class FailureStreak:
    """Sentences in a row whose calls failed after every retry; reaching the limit means the service is down."""

    def __init__(self, limit: int):
        self.limit, self.count, self._lock = limit, 0, threading.Lock()

    def success(self) -> None:
        with self._lock:
            self.count = 0

    def failure(self) -> bool:
        with self._lock:
            self.count += 1
            return self.count >= self.limit


# the call a task makes for its sentence: call(caller, *arguments) -> caller(*arguments), or SentenceCallFailed
GuardedCall = Callable[..., Completion]


class _SentenceRun(Generic[Result]):
    """What the sentences of one run share under the fault rules: the failure streak, the stop
    flag, the service error that stopped the run and the sentences that wait for batch replies."""

    def __init__(self, sentence_ids: Sequence, label_one: Callable[[int, GuardedCall], Result], backend: ChatBackend):
        self.sentence_ids, self.label_one, self.backend = sentence_ids, label_one, backend
        self.streak = FailureStreak(backend.max_consecutive_failures)
        self.stop = threading.Event()  # set once the service is known to be unusable: start no further sentence
        self.fatal: list[LLMServiceError] = []
        self.pending: list[int] = []

    def guarded(self, i: int) -> GuardedCall:
        """Sentence ``i``'s ``call``: the backend call, its exhausted retries counted in the streak."""

        def call(caller: Callable[..., Completion], *args) -> Completion:
            try:
                completion = caller(*args)
            except (LLMServiceError, ReplyPending, SentenceCallFailed):
                raise
            except Exception as error:  # retries exhausted on this sentence: the task records it
                raise self._failure(i, error) from error
            self.streak.success()
            return completion

        return call

    def _failure(self, i: int, error: Exception) -> LLMServiceError | SentenceCallFailed:
        """What sentence ``i``'s failed call raises: the service error once the streak reaches its
        limit, else this sentence's failure."""
        logger.warning("sentence %s: %s: %s", self.sentence_ids[i], type(error).__name__, error)
        if self.streak.failure():
            return LLMServiceError(
                f"model {self.backend.name!r} at {self.backend.endpoint}: {self.streak.limit} sentences in a row "
                f"failed after all retries (last: {type(error).__name__}: {error}); the service looks unreachable. "
                f"Replies received so far are cached: rerun to resume"
            )
        return SentenceCallFailed(error)

    def label_sentence(self, i: int) -> Result | None:
        """Sentence ``i`` labelled, or None when the run stopped or its reply is pending."""
        if self.stop.is_set():
            return None
        try:
            return self.label_one(i, self.guarded(i))
        except LLMServiceError as error:
            self.fatal.append(error)
            self.stop.set()
            return None
        except ReplyPending:
            self.pending.append(i)
            return None

    def label_all(self, description: str, show_progress: bool) -> list[Result | None]:
        """Every sentence on the backend's thread pool, in sentence order; stops early once the run is stopped."""
        results: list[Result | None] = [None] * len(self.sentence_ids)
        executor = ThreadPoolExecutor(max_workers=max(1, self.backend.max_concurrency))
        try:
            futures = {executor.submit(self.label_sentence, i): i for i in range(len(self.sentence_ids))}
            progress = tqdm(
                as_completed(futures), total=len(futures), desc=description, disable=not show_progress, leave=False
            )
            for future in progress:
                results[futures[future]] = future.result()
                if self.stop.is_set():
                    break
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return results


def run_each(
    sentence_ids: Sequence,
    label_one: Callable[[int, GuardedCall], Result],
    backend: ChatBackend,
    description: str,
    show_progress: bool = True,
) -> list[Result]:
    """``label_one(i, call)`` for every sentence ``i``; ``call(caller, messages, stats)`` makes that
    sentence's (cached) backend call under the fault rules above."""
    run = _SentenceRun(sentence_ids, label_one, backend)
    results = run.label_all(description, show_progress)
    if run.fatal:
        raise run.fatal[0]
    if run.pending:
        raise ReplyPending(f"{len(run.pending)} of {len(sentence_ids)} sentences wait for batch replies")
    return results
