"""The annotation runner: one strategy x one backend over a sentence table.

Per sentence: build the messages, answer from the cache or call the backend (a thread pool of
``backend.max_concurrency`` workers), parse and align the reply, optionally run the
self-verification pass, and record status, tokens, cost and latency. Failures of one sentence
never stop the run -- except errors no retry can fix (bad key, unknown model), which would fail
every sentence alike and so abort at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..tags import bio_to_spans, spans_to_bio
from .alignment import find_mention
from .backends import ChatBackend, Completion, Messages
from .cache import ResponseCache, request_key
from .costs import Price
from .parsing import REPLY_PARSERS, SentenceLabels, verdicts_from_reply
from .prompts import Demonstration, PromptStrategy, VerificationPrompt
from .retrieval import nearest_neighbours

logger = logging.getLogger(__name__)

LABEL_COLUMNS = (
    "sentence_id", "document_id", "tokens", "gold_tags", "llm_tags", "status", "failure_reason", "strategy", "model",
    "input_tokens", "output_tokens", "cost_usd", "seconds", "api_calls", "cache_hits", "reply",
)


def _is_fatal(error: BaseException) -> bool:
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        return False
    return isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError))


@dataclass
class CallStats:
    api_calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0  # original generation time, also for cached replies


class CachedCaller:
    """Backend calls through the cache; the cache key never includes credentials."""

    def __init__(self, backend: ChatBackend, cache: ResponseCache, generation: dict[str, Any]):
        self.backend, self.cache, self.generation = backend, cache, dict(generation)
        self.totals = CallStats()
        self._lock = threading.Lock()

    def __call__(self, messages: Messages, stats: CallStats) -> Completion:
        key = request_key(self.backend.kind, self.backend.model, messages, self.generation)
        cached = self.cache.get(key)
        if cached is not None:
            completion, seconds, fresh = cached.completion, cached.seconds, False
        else:
            started = time.perf_counter()
            completion = self.backend.complete(messages, self.generation)
            seconds = time.perf_counter() - started
            self.cache.put(key, self.backend.kind, self.backend.model, messages, self.generation, completion, seconds)
            fresh = True
        for target in (stats, self.totals):
            with self._lock:
                target.api_calls += fresh
                target.cache_hits += not fresh
                target.input_tokens += completion.input_tokens
                target.output_tokens += completion.output_tokens
                target.seconds += seconds
        return completion


def demonstrations_from_table(table: pd.DataFrame) -> list[Demonstration]:
    """Gold-labelled sentences as demonstrations (entities per type, in sentence order)."""
    demonstrations = []
    for tokens, tags in zip(table["tokens"], table["ner_tags"]):
        entities: dict[str, list[str]] = {}
        for span in bio_to_spans(list(tags)):
            entities.setdefault(span.label, []).append(" ".join(tokens[span.start : span.end]))
        demonstrations.append(Demonstration(tuple(tokens), entities))
    return demonstrations


def choose_demonstrations(
    strategy: PromptStrategy, sentences: Sequence[Sequence[str]], pool: pd.DataFrame | None, similarity: str = "embedding"
) -> list[list[Demonstration]]:
    if strategy.demonstrations == "none":
        return [[] for _ in sentences]
    if strategy.demonstrations == "fixed":
        return [list(strategy.examples) for _ in sentences]
    if pool is None or pool.empty:
        raise ValueError(f"strategy {strategy.name!r} retrieves demonstrations but the demonstration pool is empty")
    candidates = demonstrations_from_table(pool)
    neighbours = nearest_neighbours([list(s) for s in sentences], [list(t) for t in pool["tokens"]], strategy.k, similarity)
    return [[candidates[j] for j in row] for row in neighbours]


def _verify(labels: SentenceLabels, tokens: Sequence[str], caller: CachedCaller, prompt: VerificationPrompt,
            stats: CallStats, fuzzy_threshold: float) -> SentenceLabels:
    """Second pass: drop the entities the model itself rejects; an unreadable verdict keeps them all."""
    entities = list(dict.fromkeys(labels.entities))
    if labels.tags is None or not entities:
        return labels
    completion = caller(prompt.messages(tokens, entities), stats)
    verdicts = verdicts_from_reply(completion.text, len(entities))
    if verdicts is None:
        labels.reasons["verify_unreadable"] += 1
        return labels
    rejected = {entity for entity, keep in zip(entities, verdicts) if not keep}
    if not rejected:
        return labels
    spans = [s for s in bio_to_spans(labels.tags)
             if (s.label, " ".join(tokens[s.start : s.end])) not in rejected]
    # Mentions are matched again so that a rejected fuzzy/variant spelling is dropped too.
    for etype, mention in rejected:
        for start, end in find_mention(tokens, mention, fuzzy_threshold).windows:
            spans = [s for s in spans if not (s.start == start and s.end == end and s.label == etype)]
    labels.tags = spans_to_bio(spans, len(tokens))
    labels.reasons["verify_rejected"] += len(rejected)
    labels.entities = [e for e in entities if e not in rejected]
    labels.status = "repaired" if labels.status == "ok" else labels.status
    return labels


@dataclass
class AnnotationRun:
    """What one strategy x model run produced: a row per sentence, plus call totals."""

    labels: pd.DataFrame
    totals: CallStats = field(default_factory=CallStats)
    retries: int = 0


def annotate_sentences(
    sentences: pd.DataFrame,
    strategy: PromptStrategy,
    backend: ChatBackend,
    model_name: str,
    cache: ResponseCache,
    generation: dict[str, Any],
    demonstrations: Sequence[Sequence[Demonstration]] | None = None,
    verification: VerificationPrompt | None = None,
    price: Price = Price(),
    fuzzy_threshold: float = 85.0,
    show_progress: bool = True,
) -> AnnotationRun:
    """Label every sentence of a sentence table with ``strategy`` on ``backend``."""
    if strategy.self_verify and verification is None:
        raise ValueError(f"strategy {strategy.name!r} has self_verify but no `verification` prompt is configured")
    caller = CachedCaller(backend, cache, generation)
    parse = REPLY_PARSERS[strategy.reply]
    rows = sentences.reset_index(drop=True)
    demonstrations = demonstrations if demonstrations is not None else [[] for _ in range(len(rows))]
    retries_before = getattr(getattr(backend, "counters", None), "retries", 0)

    abort = threading.Event()  # set by an error no retry can fix: start no further sentence

    def label_one(i: int) -> dict[str, Any]:
        if abort.is_set():
            raise RuntimeError("run aborted by an earlier fatal error")
        tokens = list(rows.at[i, "tokens"])
        stats = CallStats()
        reply = ""
        try:
            completion = caller(strategy.messages(tokens, demonstrations[i]), stats)
            reply = completion.text
            labels = parse(reply, tokens, fuzzy_threshold=fuzzy_threshold)
            if strategy.self_verify:
                labels = _verify(labels, tokens, caller, verification, stats, fuzzy_threshold)
        except Exception as error:
            if _is_fatal(error):
                abort.set()
                raise
            logger.warning("sentence %s: %s: %s", rows.at[i, "sentence_id"], type(error).__name__, error)
            labels = SentenceLabels(None, "failed", Counter({f"api_error:{type(error).__name__}": 1}))
        return {
            "sentence_id": int(rows.at[i, "sentence_id"]),
            "document_id": int(rows.at[i, "document_id"]),
            "tokens": tokens,
            "gold_tags": list(rows.at[i, "ner_tags"]) if "ner_tags" in rows else None,
            "llm_tags": labels.tags,
            "status": labels.status,
            "failure_reason": labels.reason_text,
            "strategy": strategy.name,
            "model": model_name,
            "input_tokens": stats.input_tokens,
            "output_tokens": stats.output_tokens,
            "cost_usd": price.cost(stats.input_tokens, stats.output_tokens),
            "seconds": stats.seconds,
            "api_calls": stats.api_calls,
            "cache_hits": stats.cache_hits,
            "reply": reply,
        }

    results: list[dict[str, Any] | None] = [None] * len(rows)
    executor = ThreadPoolExecutor(max_workers=max(1, backend.max_concurrency))
    try:
        futures = {executor.submit(label_one, i): i for i in range(len(rows))}
        progress = tqdm(as_completed(futures), total=len(futures), desc=f"{strategy.name} x {model_name}",
                        disable=not show_progress, leave=False)
        for future in progress:
            results[futures[future]] = future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    table = pd.DataFrame(results, columns=list(LABEL_COLUMNS))
    retries = getattr(getattr(backend, "counters", None), "retries", 0) - retries_before
    logger.info(
        "%s x %s: %d sentences, %d API calls, %d from cache, %d retries, statuses %s",
        strategy.name, model_name, len(table), caller.totals.api_calls, caller.totals.cache_hits, retries,
        dict(Counter(table["status"])),
    )
    return AnnotationRun(table, caller.totals, retries)
