"""Labelling through batch jobs: OpenAI's Batch API, or vLLM's ``run_batch`` on a GPU machine.

One request format for both: a Batch JSONL line per request, ``{"custom_id", "method": "POST",
"url": "/v1/chat/completions", "body": {model, messages, max_tokens, ...}}``, whose ``custom_id`` is
the response-cache key. A reply that comes back therefore lands in the same cache as an online
one (marked ``tier: batch``), and everything downstream -- parsing, statuses, confidence votes,
money -- is the online run's code, unchanged.

How a run goes (:func:`annotate_through_batches`): the annotation runner makes a pass over the
sentences with a :class:`BatchingBackend`, which notes every reply missing from the cache instead
of asking for it; the :class:`Batcher` sends the noted requests as jobs, waits for them and puts
the replies into the cache; the next pass labels from the cache (a second round of jobs only for
requests that depend on replies: the self-verification pass).

Nothing is paid for twice. Every job is recorded in a state file (``jobs.json``, one per model
and endpoint) after each step -- request file written, file uploaded, batch created -- so a run
killed while a batch is in progress polls the same batch when it is run again. An expired or
cancelled job's answered requests are kept and only the rest is sent again; a request the job
answered with an error is asked online or left failed (``batch.failed_requests``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .backends import ChatBackend, Completion, LLMServiceError, OpenAIBackend, completion_from_body
from .cache import ResponseCache, request_key
from .prompts import Messages
from .runner import ReplyPending, SentenceCallFailed
from .settings import BatchSettings

logger = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
# OpenAI batch statuses after which nothing changes any more
FINISHED = ("completed", "failed", "expired", "cancelled")
RESENT_ERRORS = ("batch_expired", "batch_cancelled")  # a request the job ran out of time for, not a bad one
MAX_PASSES = 10  # passes over the sentences; the self-verification pass needs 3 (ask, verify, label)

Result = TypeVar("Result")


class BatchPending(LLMServiceError):
    """Batch jobs are submitted but not finished (``batch.wait: false``, or a request file waiting
    for vLLM): the run stops, and a later run collects the replies without submitting anything twice."""


@dataclass(frozen=True)
class BatchRequest:
    key: str  # the response-cache key, sent as custom_id
    messages: Messages
    generation: dict[str, Any]


def request_line(request: BatchRequest, model: str) -> str:
    body = {"model": model, "messages": request.messages, **request.generation}
    return json.dumps({"custom_id": request.key, "method": "POST", "url": CHAT_URL, "body": body}, ensure_ascii=False)


def split_request_lines(
    requests: Sequence[BatchRequest], model: str, max_requests: int, max_bytes: int
) -> Iterator[tuple[list[str], list[BatchRequest]]]:
    """The request lines in files of at most ``max_requests`` lines and ``max_bytes`` bytes."""
    lines: list[str] = []
    chunk: list[BatchRequest] = []
    size = 0
    for request in requests:
        line = request_line(request, model)
        length = len(line.encode("utf-8")) + 1
        if length > max_bytes:
            raise ValueError(
                f"one batch request is {length} bytes, above llm_annotation.batch.max_bytes_per_file ({max_bytes})"
            )
        if lines and (len(lines) == max_requests or size + length > max_bytes):
            yield lines, chunk
            lines, chunk, size = [], [], 0
        lines.append(line)
        chunk.append(request)
        size += length
    if lines:
        yield lines, chunk


@dataclass(frozen=True)
class BatchResult:
    key: str
    completion: Completion | None  # None: the request failed, see ``error``
    error: str | None = None  # e.g. "batch_expired", "batch_error:400:invalid_request"


def read_results(path: Path, messages_by_key: dict[str, Messages]) -> Iterator[BatchResult]:
    """The results of a batch output (or error) file, one per line. Both shapes are read: OpenAI's
    and newer vLLM's ``{"custom_id", "response": {"status_code", "body"}, "error"}``, and older
    vLLM's, whose ``response`` is the chat completion itself. A line that is no such result names
    the file and line."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = record["custom_id"]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{path}:{number}: not a batch result line ({type(error).__name__}: {error})"
                ) from None
            yield _result(record, key, messages_by_key.get(key, []))


def _result(record: dict[str, Any], key: str, messages: Messages) -> BatchResult:
    error = record.get("error")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        return BatchResult(key, None, code if code in RESENT_ERRORS else f"batch_error:{code or 'unknown'}")
    response = record.get("response") or {}
    body = response.get("body", response) if "status_code" in response else response
    status = response.get("status_code", 200)
    if status != 200 or not isinstance(body, dict) or "choices" not in body:
        detail = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
        return BatchResult(key, None, f"batch_error:{status}" + (f":{detail}" if detail else ""))
    return BatchResult(key, completion_from_body(body, messages))


@dataclass
class BatchJob:
    """One request file and what became of it; saved in the state file after every step."""

    name: str  # job-0001, ...
    keys: list[str]
    submission: int = 1  # 2 and more: requests an expired or cancelled job left over
    state: str = "written"  # written -> uploaded -> submitted -> settled
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None  # the provider's last word (validating, in_progress, completed, ...)


@dataclass
class JobBook:
    """The state file of one model at one endpoint: its jobs, and the requests no job could answer."""

    path: Path
    jobs: list[BatchJob] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # cache key -> reason

    @classmethod
    def open(cls, path: Path) -> JobBook:
        if not path.exists():
            return cls(path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, [BatchJob(**job) for job in state["jobs"]], dict(state["failures"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}: unreadable batch state ({type(error).__name__}: {error}); it records which "
                f"batches were paid for -- move it away only if those are settled"
            ) from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"jobs": [asdict(job) for job in self.jobs], "failures": self.failures}), encoding="utf-8"
        )
        os.replace(temporary, self.path)  # a killed run leaves the old state or the new one, never half of one

    def open_jobs(self) -> list[BatchJob]:
        return [job for job in self.jobs if job.state != "settled"]

    def new_job(self, keys: list[str], submission: int = 1) -> BatchJob:
        job = BatchJob(f"job-{len(self.jobs) + 1:04d}", keys, submission)
        self.jobs.append(job)
        return job

    def file(self, job: BatchJob, part: str) -> Path:
        return self.path.parent / f"{job.name}.{part}.jsonl"


@dataclass(frozen=True)
class JobStatus:
    status: str
    completed: int = 0
    failed: int = 0
    total: int = 0
    output: Path | None = None  # the downloaded output and error files, once the job is finished
    errors: Path | None = None
    message: str = ""  # why a job was rejected


class OpenAIBatches:
    """The Files and Batches endpoints of the model's server, through the backend's retries."""

    can_wait = True  # the run may poll until its jobs end

    def __init__(self, backend: OpenAIBackend, completion_window: str):
        self.backend, self.completion_window = backend, completion_window

    def instructions(self, jobs: Sequence[BatchJob], book: JobBook) -> str:
        return "run again to collect them: nothing is submitted twice"

    def submit(self, job: BatchJob, book: JobBook) -> None:
        resumed = job.input_file_id is not None
        if not resumed:
            path = book.file(job, "requests")  # a path: each retry of the upload reads the file anew
            uploaded = self.backend.request(lambda client: client.files.create(file=path, purpose="batch"))
            job.input_file_id, job.state = uploaded.id, "uploaded"
            book.save()
        # a run killed between creating the batch and saving its id: find that batch rather than pay twice
        found = self._batch_of(job.input_file_id) if resumed else None
        batch = found or self.backend.request(
            lambda client: client.batches.create(
                input_file_id=job.input_file_id,
                endpoint=CHAT_URL,
                completion_window=self.completion_window,
                metadata={"llm_ner_job": job.name},
            )
        )
        job.batch_id, job.state, job.status = batch.id, "submitted", batch.status
        book.save()
        logger.info(
            "%s: %s: %s batch %s with %d requests (input file %s)",
            self.backend.name,
            job.name,
            "found its" if found else "submitted",
            batch.id,
            len(job.keys),
            job.input_file_id,
        )

    def _batch_of(self, input_file_id: str, newest: int = 1000) -> Any:
        """The batch made of ``input_file_id`` among the account's ``newest`` batches, or None."""
        for seen, batch in enumerate(self.backend.request(lambda client: client.batches.list(limit=100))):
            if batch.input_file_id == input_file_id:
                return batch
            if seen >= newest:
                break
        return None

    def poll(self, job: BatchJob, book: JobBook) -> JobStatus:
        batch = self.backend.request(lambda client: client.batches.retrieve(job.batch_id))
        counts = batch.request_counts
        status = JobStatus(batch.status, *((counts.completed, counts.failed, counts.total) if counts else (0, 0, 0)))
        if batch.status not in FINISHED:
            return status
        if batch.status == "failed":
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            message = "; ".join(f"line {e.line}: {e.message}" if e.line else f"{e.message}" for e in errors[:3])
            return JobStatus("failed", message=message or "no reason given")
        return JobStatus(
            batch.status,
            status.completed,
            status.failed,
            status.total,
            self._download(batch.output_file_id, book.file(job, "output")),
            self._download(batch.error_file_id, book.file(job, "errors")),
        )

    def _download(self, file_id: str | None, path: Path) -> Path | None:
        if not file_id:
            return None
        content = self.backend.request(lambda client: client.files.content(file_id))
        path.write_bytes(content.read())
        return path


class RequestFiles:
    """vLLM's ``run_batch`` (or any runner of Batch JSONL) on another machine: the request files are
    written here, and a job is finished once its output file has been put beside its request file."""

    can_wait = False  # a person carries the files: the run stops and says what to do

    def __init__(self, model: str):
        self.model = model

    def submit(self, job: BatchJob, book: JobBook) -> None:
        job.state, job.status = "submitted", "waiting for its output file"
        book.save()

    def poll(self, job: BatchJob, book: JobBook) -> JobStatus:
        output = book.file(job, "output")
        if not output.exists():
            return JobStatus("waiting for its output file", total=len(job.keys))
        return JobStatus("completed", total=len(job.keys), output=output)

    def instructions(self, jobs: Sequence[BatchJob], book: JobBook) -> str:
        first = jobs[0]
        return (
            f"run each request file with vLLM on a GPU machine, e.g. `python -m vllm.entrypoints.openai.run_batch "
            f"-i {book.file(first, 'requests')} -o {book.file(first, 'output')} --model {self.model}`, put each "
            f"output file beside its request file under that name, and run again"
        )


class Batcher:
    """Sends requests as batch jobs of one model, waits for them, and puts the replies into the cache.

    ``received``: the cache keys that jobs delivered during this run -- the run paid for them (at
    the batch price). ``failures``: the requests no job could answer, with the reason.
    """

    def __init__(self, backend: OpenAIBackend, cache: ResponseCache, settings: BatchSettings):
        self.backend, self.cache, self.settings = backend, cache, settings
        identity = hashlib.sha256(json.dumps(backend.identity, sort_keys=True).encode()).hexdigest()[:12]
        self.book = JobBook.open(Path(settings.directory) / f"{backend.name}-{identity}" / "jobs.json")
        self.provider = (
            OpenAIBatches(backend, settings.completion_window)
            if settings.provider == "openai"
            else RequestFiles(backend.model)
        )
        self.received: set[str] = set()
        self._written: dict[str, BatchRequest] = {}  # requests this run wrote to files (not read back)

    @property
    def failures(self) -> dict[str, str]:
        return self.book.failures

    def fetch(self, requests: Sequence[BatchRequest]) -> None:
        """Every request answered into the cache or given a failure reason; :class:`BatchPending`
        when the jobs are not finished and the run is not to wait for them."""
        by_key = {request.key: request for request in requests}
        waiting = {key for job in self.book.open_jobs() for key in job.keys}
        new = [
            request
            for key, request in by_key.items()
            if key not in waiting and key not in self.book.failures and key not in self.cache
        ]
        if new:
            self._write_jobs(new, submission=1)
        self._run_jobs()

    def _write_jobs(self, requests: Sequence[BatchRequest], submission: int) -> None:
        settings = self.settings
        for lines, chunk in split_request_lines(
            requests, self.backend.model, settings.max_requests_per_file, settings.max_bytes_per_file
        ):
            self._written.update((request.key, request) for request in chunk)
            job = self.book.new_job([request.key for request in chunk], submission)
            path = self.book.file(job, "requests")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.book.save()
            logger.info("%s: %s: %d requests written to %s", self.backend.name, job.name, len(lines), path)

    def _run_jobs(self) -> None:
        interval = self.settings.poll_interval_s
        while True:
            for job in self.book.open_jobs():
                if job.state in ("written", "uploaded"):
                    self.provider.submit(job, self.book)
            for job in self.book.open_jobs():
                status = self.provider.poll(job, self.book)
                if status.status != job.status or status.status in FINISHED:
                    logger.info(
                        "%s: %s (%s): %s, %d of %d done, %d failed",
                        self.backend.name,
                        job.name,
                        job.batch_id or "request file",
                        status.status,
                        status.completed,
                        status.total or len(job.keys),
                        status.failed,
                    )
                job.status = status.status
                if status.status in FINISHED:
                    self._settle(job, status)
                self.book.save()
            still_open = self.book.open_jobs()
            if not still_open:
                return
            if any(job.state != "submitted" for job in still_open):  # requests to send again: at once
                continue
            if not (self.provider.can_wait and self.settings.wait):
                requests = sum(len(job.keys) for job in still_open)
                raise BatchPending(
                    f"model {self.backend.name!r}: {requests} requests wait in {len(still_open)} batch "
                    f"job(s) ({', '.join(job.batch_id or job.name for job in still_open)}: "
                    f"{still_open[0].status}); {self.provider.instructions(still_open, self.book)}"
                )
            time.sleep(interval)
            interval = min(interval * 2, self.settings.poll_max_interval_s)

    def _settle(self, job: BatchJob, status: JobStatus) -> None:
        """A finished job's replies into the cache; what it left over is sent again (expired,
        cancelled: up to ``max_submissions``) or recorded as failed with the reason."""
        if status.status == "failed":
            raise LLMServiceError(
                f"model {self.backend.name!r} at {self.backend.endpoint}: batch {job.batch_id} "
                f"({self.book.file(job, 'requests')}) was rejected: {status.message}"
            )
        requests = self._requests_of(job)
        messages = {key: request.messages for key, request in requests.items()}
        results = [
            result
            for path in (status.output, status.errors)
            if path is not None
            for result in read_results(path, messages)
            if result.key in requests
        ]
        answered = [result for result in results if result.completion is not None]
        self.cache.put_many(
            [(r.key, requests[r.key].messages, requests[r.key].generation, r.completion, 0.0) for r in answered],
            self.backend.identity,
            tier="batch",
        )
        self.received.update(result.key for result in answered)
        errors = {result.key: result.error for result in results if result.completion is None}
        unanswered = [key for key in job.keys if key not in self.received and key not in errors]
        failures = self.book.failures
        resend: list[str] = []
        if status.status in ("expired", "cancelled"):
            resend = unanswered + [key for key, error in errors.items() if error in RESENT_ERRORS]
            if job.submission >= self.settings.max_submissions:
                failures.update({key: f"batch_{status.status}" for key in resend})
                resend = []
        else:
            failures.update({key: "batch_missing" for key in unanswered})
        failures.update({key: error for key, error in errors.items() if key not in resend and key not in failures})
        waiting = {key for other in self.book.open_jobs() if other is not job for key in other.keys}
        resend = [key for key in resend if key not in waiting]  # already sent again by a run killed here
        if resend:
            self._write_jobs([requests[key] for key in resend], job.submission + 1)
        job.state = "settled"
        logger.info(
            "%s: %s settled: %d replies cached, %d sent again, %d failed",
            self.backend.name,
            job.name,
            len(answered),
            len(resend),
            sum(1 for key in job.keys if key in failures),
        )

    def _requests_of(self, job: BatchJob) -> dict[str, BatchRequest]:
        """The job's requests: as this run wrote them, or read back from its request file (a job an
        earlier run submitted)."""
        if all(key in self._written for key in job.keys):
            return {key: self._written[key] for key in job.keys}
        requests = {}
        with open(self.book.file(job, "requests"), encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                body = dict(record["body"])
                body.pop("model")
                requests[record["custom_id"]] = BatchRequest(record["custom_id"], body.pop("messages"), body)
        return requests


class BatchingBackend:
    """Stands in for an API backend in batch mode. A reply missing from the cache is noted as a
    batch request (the sentence waits: :class:`ReplyPending`); one whose batch request failed is
    asked online or fails the sentence, by ``failed_requests``."""

    def __init__(self, online: OpenAIBackend, batcher: Batcher, namespace: str = ""):
        self.online, self.batcher, self.namespace = online, batcher, namespace
        for name in (
            "name",
            "endpoint",
            "max_concurrency",
            "max_consecutive_failures",
            "supports_logprobs",
            "identity",
            "counters",
        ):
            setattr(self, name, getattr(online, name))
        self.noted: dict[str, BatchRequest] = {}

    def complete(self, messages: Messages, generation: dict[str, Any]) -> Completion:
        return self.complete_many(messages, [generation])[0]

    def complete_many(self, messages: Messages, generations: Sequence[dict[str, Any]]) -> list[Completion]:
        keys = [request_key(self.identity, messages, generation, self.namespace) for generation in generations]
        failures = self.batcher.failures
        if not any(key in failures for key in keys):
            for key, generation in zip(keys, generations):
                self.noted[key] = BatchRequest(key, messages, dict(generation))
            raise ReplyPending(f"{len(keys)} replies noted for a batch job")
        if self.batcher.settings.failed_requests == "online":
            return self.online.complete_many(messages, generations)
        reason = next(failures[key] for key in keys if key in failures)
        raise SentenceCallFailed(f"the batch request failed: {reason}", reason)

    def take_noted(self) -> list[BatchRequest]:
        noted, self.noted = list(self.noted.values()), {}
        return noted


def annotate_through_batches(
    annotate: Callable[[ChatBackend, Collection[str]], Result],
    online: OpenAIBackend,
    cache: ResponseCache,
    settings: BatchSettings,
    namespace: str = "",
) -> Result:
    """``annotate(backend, received)`` -- a labelling run -- with every missing reply fetched by batch jobs.

    Each pass over the sentences notes the replies still missing; they go out as jobs, and the
    next pass reads them from the cache. The pass that finds every reply is the run's result; it
    counts the replies the jobs brought (``received``) as bought by this run, at the batch price.
    """
    batcher = Batcher(online, cache, settings)
    backend = BatchingBackend(online, batcher, namespace)
    for _ in range(MAX_PASSES):
        try:
            return annotate(backend, frozenset(batcher.received))
        except ReplyPending as pending:
            requests = backend.take_noted()
            logger.info("%s: %s; %d requests go out as batch jobs", online.name, pending, len(requests))
            batcher.fetch(requests)
    raise RuntimeError(f"model {online.name!r}: replies still missing after {MAX_PASSES} passes of batch jobs")
