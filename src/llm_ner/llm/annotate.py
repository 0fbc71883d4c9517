"""The annotation runner: one strategy x one backend over a sentence table.

Per sentence: build the messages, answer from the cache or call the backend, parse and align the
reply, optionally run the self-verification pass and score the labels' confidence from token
log-probabilities, and record status, tokens, money and latency. The fault rules -- a failed
sentence is recorded and the run goes on, a dead service stops it at once -- are
:func:`llm_ner.llm.runner.run_each`'s.

Money comes in two named quantities: ``label_cost_usd`` is what producing these labels costs
(cached or not) and ``spend_usd`` is what this run paid (fresh calls only), each reply priced at
the tier it was bought at (online, or a batch job's discount: :mod:`llm_ner.llm.batch`).
"""

from __future__ import annotations

import logging
import numbers
import threading
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..tags import bio_to_spans, spans_to_bio
from .alignment import find_mention
from .backends import ChatBackend, Completion, LLMServiceError
from .cache import ResponseCache, request_key
from .confidence import Scored, logprob_confidence, vote
from .constrained import with_reply_format
from .costs import Price
from .parsing import REPLY_PARSERS, SentenceLabels, verdicts_from_reply
from .prompts import Demonstration, Messages, PromptStrategy, VerificationPrompt
from .retrieval import nearest_neighbours
from .runner import GuardedCall, ReplyPending, SentenceCallFailed, run_each

logger = logging.getLogger(__name__)

# what the calls behind one row cost (CallStats' fields): summed when runs are combined by vote
CALL_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "label_cost_usd",
    "spend_usd",
    "seconds",
    "api_calls",
    "batch_calls",
    "cache_hits",
)
# a sentence's labels, as the later stages read them (llm_labels)
SENTENCE_LABEL_COLUMNS = (
    "sentence_id",
    "document_id",
    "tokens",
    "gold_tags",
    "llm_tags",
    "status",
    "failure_reason",
    "strategy",
    "model",
    "entity_confidence",
    "sentence_confidence",
)
LABEL_COLUMNS = (*SENTENCE_LABEL_COLUMNS, *CALL_COLUMNS, "reply")


@dataclass
class CallStats:
    api_calls: int = 0  # replies this run bought (online requests and batch-job lines)
    batch_calls: int = 0  # ... of them through a batch job, at the batch price
    cache_hits: int = 0
    input_tokens: int = 0  # every reply, cached or not: what the labels cost to produce
    output_tokens: int = 0
    label_cost_usd: float = 0.0  # every reply at the price it was bought at
    spend_usd: float = 0.0  # the replies this run bought: what this run paid
    seconds: float = 0.0  # original generation time, also for cached replies

    def columns(self) -> dict[str, Any]:
        """The :data:`CALL_COLUMNS` of a row."""
        return {column: getattr(self, column) for column in CALL_COLUMNS}

    def add(self, completion: Completion, seconds: float, fresh: bool, usd: float, tier: str) -> None:
        self.api_calls += fresh
        self.batch_calls += fresh and tier == "batch"
        self.cache_hits += not fresh
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.label_cost_usd += usd
        self.spend_usd += usd if fresh else 0.0
        self.seconds += seconds


class BatchReceipts:
    """Replies that batch jobs put into the cache during this run and no sentence has paid for yet:
    the first sentence to use one is charged for it (a fresh call, at the batch price); a later one
    with the same prompt is a cache hit, as online."""

    def __init__(self, keys: Collection[str] = ()):
        self._keys, self._lock = set(keys), threading.Lock()

    def claim(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.discard(key)
                return True
            return False


class CachedCaller:
    """Backend calls through the cache; the key is the backend's identity, never its credentials."""

    def __init__(
        self,
        backend: ChatBackend,
        cache: ResponseCache,
        generation: dict[str, Any],
        namespace: str = "",
        price: Price = Price(),
        receipts: BatchReceipts | None = None,
    ):
        self.backend, self.cache, self.generation, self.namespace = backend, cache, dict(generation), namespace
        self.price, self.receipts = price, receipts or BatchReceipts()
        self.totals = CallStats()
        self._lock = threading.Lock()

    def request(self, reply_format: dict[str, Any] | None = None) -> dict[str, Any]:
        """The generation settings of one request: with the reply's format when it is constrained
        (so the format is part of the cache key only then)."""
        return with_reply_format(self.generation, reply_format)

    def key(self, messages: Messages, reply_format: dict[str, Any] | None = None) -> str:
        return request_key(self.backend.identity, messages, self.request(reply_format), self.namespace)

    def __call__(self, messages: Messages, stats: CallStats) -> Completion:
        return cached_replies([self], messages, [stats])[0]

    def record(self, stats: CallStats, completion: Completion, seconds: float, fresh: bool, tier: str) -> None:
        usd = self.price.cost(completion.input_tokens, completion.output_tokens, tier)
        with self._lock:
            stats.add(completion, seconds, fresh, usd, tier)
            self.totals.add(completion, seconds, fresh, usd, tier)


def cached_replies(
    callers: Sequence[CachedCaller],
    messages: Messages,
    stats: Sequence[CallStats],
    reply_format: dict[str, Any] | None = None,
) -> list[Completion]:
    """The reply of each caller's generation settings to one prompt (one backend, one cache), from
    the cache where it can; the missing ones are asked for together, so that a backend able to share
    the prompt's work between them (the local model's parallel samples) does. Each fresh reply is
    stored under its own key at once, with an equal share of the time the request took.
    ``reply_format``: the shape a constrained reply must take (PromptStrategy.reply_format)."""
    backend, cache = callers[0].backend, callers[0].cache
    requests = [caller.request(reply_format) for caller in callers]
    keys = [caller.key(messages, reply_format) for caller in callers]
    found = [cache.get(key) for key in keys]
    missing = [i for i, hit in enumerate(found) if hit is None]
    fresh: dict[int, tuple[Completion, float]] = {}
    if missing:
        generations = [requests[i] for i in missing]
        started = time.perf_counter()
        completions = (
            [backend.complete(messages, generations[0])]
            if len(missing) == 1
            else backend.complete_many(messages, generations)
        )
        seconds = (time.perf_counter() - started) / len(missing)
        for i, completion in zip(missing, completions):
            cache.put(keys[i], backend.identity, messages, requests[i], completion, seconds)
            fresh[i] = (completion, seconds)
    replies = []
    for i, (caller, hit) in enumerate(zip(callers, found)):
        if i in fresh:
            (completion, seconds), tier, bought = fresh[i], "online", True
        else:
            completion, seconds, tier, bought = hit.completion, hit.seconds, hit.tier, caller.receipts.claim(keys[i])
        caller.record(stats[i], completion, seconds, bought, tier)
        replies.append(completion)
    return replies


def _is_api_error(error: BaseException) -> bool:
    import openai

    return isinstance(error, openai.OpenAIError)


def demonstrations_from_table(table: pd.DataFrame) -> list[Demonstration]:
    """Gold-labelled sentences as demonstrations (entities per type, in sentence order)."""
    demonstrations = []
    for tokens, tags in zip(table["tokens"], table["ner_tags"]):
        entities: dict[str, list[str]] = {}
        for span in bio_to_spans(list(tags)):
            entities.setdefault(span.label, []).append(" ".join(tokens[span.start : span.end]))
        demonstrations.append(Demonstration(tuple(tokens), entities, tags=tuple(tags)))
    return demonstrations


def choose_demonstrations(
    strategy: PromptStrategy,
    sentences: Sequence[Sequence[str]],
    pool: pd.DataFrame | None,
    similarity: str = "embedding",
) -> list[list[Demonstration]]:
    if strategy.demonstrations == "none":
        return [[] for _ in sentences]
    if strategy.demonstrations == "fixed":
        return [list(strategy.examples) for _ in sentences]
    if pool is None or pool.empty:
        raise ValueError(f"strategy {strategy.name!r} retrieves demonstrations but the demonstration pool is empty")
    candidates = demonstrations_from_table(pool)
    neighbours = nearest_neighbours(
        [list(s) for s in sentences], [list(t) for t in pool["tokens"]], strategy.k, similarity
    )
    return [[candidates[j] for j in row] for row in neighbours]


@dataclass
class AnnotationRun:
    """What one strategy x model run produced: a row per sentence, its parsed labels, call totals."""

    labels: pd.DataFrame
    parsed: list[SentenceLabels] = field(default_factory=list)
    totals: CallStats = field(default_factory=CallStats)
    retries: int = 0


@dataclass(frozen=True)
class LabellingJob:
    """One prompt strategy on one backend: everything a run needs but its sentences. One run per
    generation setting (self-consistency's samples), in order; ``namespace`` keeps another stage's
    replies apart in the cache."""

    strategy: PromptStrategy
    backend: ChatBackend
    cache: ResponseCache
    generations: Sequence[dict[str, Any]] = ({},)
    verification: VerificationPrompt | None = None
    price: Price = Price()
    fuzzy_threshold: float = 85.0
    show_progress: bool = True
    namespace: str = ""

    @property
    def name(self) -> str:
        return f"{self.strategy.name} x {self.backend.name}"


def annotate_replies(
    job: LabellingJob,
    sentences: pd.DataFrame,
    demonstrations: Sequence[Sequence[Demonstration]] | None = None,
    received: Collection[str] = (),
) -> list[AnnotationRun]:
    """Label every sentence of a sentence table, one :class:`AnnotationRun` per generation setting.
    A sentence's replies are asked for together (:func:`cached_replies`): the prompt is the same.
    ``received``: cache keys that batch jobs delivered during this run (:class:`BatchReceipts`).
    With ``logprobs`` in a generation setting, its labels are scored from the reply's token
    probabilities."""
    if job.strategy.self_verify and job.verification is None:
        raise ValueError(f"strategy {job.strategy.name!r} has self_verify but no `verification` prompt is configured")
    labeller = _SentenceLabeller(job, sentences.reset_index(drop=True), demonstrations, BatchReceipts(received))
    retries_before = job.backend.counters.retries
    results = run_each(list(labeller.rows["sentence_id"]), labeller.label, job.backend, job.name, job.show_progress)
    retries = job.backend.counters.retries - retries_before
    # a sentence's replies share their requests' retries: counted once, on the first run
    return [labeller.run(j, results, retries if j == 0 else 0) for j in range(len(labeller.callers))]


Labelled = tuple[dict[str, Any], SentenceLabels]  # a sentence's row of the labels table, and its parsed labels


class _SentenceLabeller:
    """What labels one sentence, with a reply per generation setting; and the runs it makes."""

    def __init__(
        self,
        job: LabellingJob,
        rows: pd.DataFrame,
        demonstrations: Sequence[Sequence[Demonstration]] | None,
        receipts: BatchReceipts,
    ):
        self.job, self.rows, self.parse = job, rows, REPLY_PARSERS[job.strategy.reply]
        self.demonstrations = demonstrations if demonstrations is not None else [[] for _ in range(len(rows))]
        self.callers = [
            CachedCaller(job.backend, job.cache, generation, job.namespace, job.price, receipts)
            for generation in job.generations
        ]

    def label(self, i: int, call: GuardedCall) -> list[Labelled]:
        """Sentence ``i``'s replies (through ``call``: the runner's fault rules), parsed."""
        tokens = list(self.rows.at[i, "tokens"])
        stats = [CallStats() for _ in self.callers]
        messages = self.job.strategy.messages(tokens, self.demonstrations[i])
        try:
            completions = call(cached_replies, self.callers, messages, stats, self.job.strategy.reply_format(tokens))
        except SentenceCallFailed as failure:
            labels = SentenceLabels(None, "failed", Counter({failure.reason: 1}))
            return [(self._row(i, labels, s), labels) for s in stats]
        return [self._reply(i, tokens, *reply) for reply in zip(self.callers, completions, stats)]

    def _reply(self, i: int, tokens: list[str], caller: CachedCaller, completion: Completion, stats: CallStats):
        job = self.job
        try:
            labels = self.parse(
                completion.text, tokens, job.fuzzy_threshold, job.strategy.result_marker, job.strategy.schema
            )
            if job.strategy.self_verify:
                labels = self._verified(labels, tokens, caller, stats)
        except (LLMServiceError, ReplyPending):
            raise
        # anything else the verification call or our parser raises fails this sentence, never the run
        except Exception as error:  # a misbehaving reply may break a parser in any way
            kind = "api_error" if _is_api_error(error) else "parse_error"
            logger.warning("sentence %s: %s: %s: %s", self.rows.at[i, "sentence_id"], kind, type(error).__name__, error)
            labels = SentenceLabels(None, "failed", Counter({f"{kind}:{type(error).__name__}": 1}))
        scored = None
        if caller.generation.get("logprobs"):
            scored = logprob_confidence(labels, tokens, completion.text, completion.token_logprobs, job.fuzzy_threshold)
        return self._row(i, labels, stats, completion.text, scored), labels

    def _verified(
        self, labels: SentenceLabels, tokens: Sequence[str], caller: CachedCaller, stats: CallStats
    ) -> SentenceLabels:
        """Second pass: drop the entities the model itself rejects; an unreadable verdict keeps them."""
        entities = list(dict.fromkeys(labels.entities))
        if labels.tags is None or not entities:
            return labels
        completion = caller(self.job.verification.messages(tokens, entities), stats)
        verdicts = verdicts_from_reply(completion.text, len(entities))
        if verdicts is None:
            labels.reasons["verify_unreadable"] += 1
            return labels
        rejected = {entity for entity, keep in zip(entities, verdicts) if not keep}
        if not rejected:
            return labels
        spans = [s for s in bio_to_spans(labels.tags) if (s.label, " ".join(tokens[s.start : s.end])) not in rejected]
        # Mentions are matched again so that a rejected fuzzy/variant spelling is dropped too.
        for etype, mention in rejected:
            for start, end in find_mention(tokens, mention, self.job.fuzzy_threshold).windows:
                spans = [s for s in spans if not (s.start == start and s.end == end and s.label == etype)]
        labels.tags = spans_to_bio(spans, len(tokens))
        labels.reasons["verify_rejected"] += len(rejected)
        labels.entities = [e for e in entities if e not in rejected]
        labels.status = "repaired" if labels.status == "ok" else labels.status
        return labels

    def _row(
        self, i: int, labels: SentenceLabels, stats: CallStats, reply: str = "", scored: Scored | None = None
    ) -> dict[str, Any]:
        """Sentence ``i``'s row of the labels table."""
        sentence = self.rows.loc[i]
        return {
            "sentence_id": int(sentence["sentence_id"]),
            "document_id": _document_id(sentence["document_id"]),
            "tokens": list(sentence["tokens"]),
            "gold_tags": list(sentence["ner_tags"]) if "ner_tags" in sentence else None,
            "llm_tags": labels.tags,
            "status": labels.status,
            "failure_reason": labels.reason_text,
            "strategy": self.job.strategy.name,
            "model": self.job.backend.name,
            "entity_confidence": scored.entities if scored else None,
            "sentence_confidence": scored.sentence if scored else float("nan"),
            **stats.columns(),
            "reply": reply,
        }

    def run(self, j: int, results: list[list[Labelled]], retries: int) -> AnnotationRun:
        """The run of the ``j``-th generation setting."""
        caller = self.callers[j]
        table = pd.DataFrame([replies[j][0] for replies in results], columns=list(LABEL_COLUMNS))
        logger.info(
            "%s%s: %d sentences, %d API calls (%d through batch jobs), %d from cache, %d retries, statuses %s",
            self.job.name,
            f" (reply {j + 1} of {len(self.callers)})" if len(self.callers) > 1 else "",
            len(table),
            caller.totals.api_calls,
            caller.totals.batch_calls,
            caller.totals.cache_hits,
            retries,
            dict(Counter(table["status"])),
        )
        return AnnotationRun(table, [replies[j][1] for replies in results], caller.totals, retries)


def _document_id(value: Any) -> int | str:
    """CoNLL's document number, or a raw document's id (its file stem or JSONL ``id``)."""
    return int(value) if isinstance(value, numbers.Integral) else str(value)


def combine_by_vote(runs: Sequence[AnnotationRun], strategy: str) -> AnnotationRun:
    """One run from several runs over the same sentences: labels and confidence by vote
    (:func:`llm_ner.llm.confidence.vote`); tokens, money, time and calls are summed."""
    first = runs[0].labels
    voted = [vote([run.parsed[i] for run in runs], list(tokens)) for i, tokens in enumerate(first["tokens"])]
    table = first.copy()
    table["llm_tags"] = [labels.tags for labels, _ in voted]
    table["status"] = [labels.status for labels, _ in voted]
    table["failure_reason"] = [labels.reason_text for labels, _ in voted]
    table["entity_confidence"] = [scored.entities for _, scored in voted]
    table["sentence_confidence"] = [scored.sentence for _, scored in voted]
    for column in CALL_COLUMNS:
        table[column] = sum(run.labels[column] for run in runs)
    table["strategy"] = strategy
    totals = CallStats()
    for run in runs:
        for name in vars(totals):
            setattr(totals, name, getattr(totals, name) + getattr(run.totals, name))
    return AnnotationRun(table, [labels for labels, _ in voted], totals, sum(run.retries for run in runs))
