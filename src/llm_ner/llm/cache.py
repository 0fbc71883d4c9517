"""On-disk cache of LLM calls (SQLite), so each request is paid for once.

The key is a hash of everything that decides the reply: the backend's identity (kind, normalised
endpoint and model for an API; model name, GGUF sha256 and context size for the local model), an
optional namespace, the generation settings and the full messages. Two servers that both serve
"llama3" therefore never share replies. Nothing secret enters: keys are never part of a request,
and the endpoint is only hashed. Each reply is committed as soon as it arrives, so a run killed
halfway resumes and pays only for the rest. A reply bought through a batch job is stored under
the same key as an online one (its ``custom_id`` is the key), with ``tier`` saying how it was paid.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import Completion
from .prompts import Messages

SCHEMA_VERSION = "2"  # 1: keys without endpoint/model-file identity (rejected: replies could be another model's)


class CacheFormatError(RuntimeError):
    pass


@dataclass(frozen=True)
class CachedCompletion:
    completion: Completion
    seconds: float  # how long the original call took: latency stays measurable on cached reruns
    tier: str = "online"  # how it was bought (llm_ner.llm.costs.PRICE_TIERS): cached reruns price it alike


def request_key(identity: dict[str, Any], messages: Messages, generation: dict[str, Any], namespace: str = "") -> str:
    request = {"identity": identity, "namespace": namespace, "messages": messages, "generation": generation}
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._check_schema()
        self._connection.execute(
            """CREATE TABLE IF NOT EXISTS responses (
                   key TEXT PRIMARY KEY, backend TEXT, model TEXT, request TEXT, text TEXT,
                   input_tokens INTEGER, output_tokens INTEGER, seconds REAL, created REAL, logprobs TEXT,
                   tier TEXT NOT NULL DEFAULT 'online')"""
        )
        columns = {row[1] for row in self._connection.execute("PRAGMA table_info(responses)")}
        if "tier" not in columns:  # a cache from before batch jobs: every reply in it was bought online
            self._connection.execute("ALTER TABLE responses ADD COLUMN tier TEXT NOT NULL DEFAULT 'online'")

    def _check_schema(self) -> None:
        tables = {row[0] for row in self._connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = None
        if "meta" in tables:
            row = self._connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = row[0] if row else None
        if "responses" in tables and version != SCHEMA_VERSION:
            self._connection.close()
            raise CacheFormatError(
                f"{self.path}: response cache written by an older version (schema {version or '1'}, keys without "
                f"the endpoint and model-file identity), so its replies cannot be matched safely; move it away or "
                f"set llm_annotation.cache_path to a new file"
            )
        self._connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._connection.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

    def get(self, key: str) -> CachedCompletion | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT text, input_tokens, output_tokens, seconds, logprobs, tier FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        logprobs = tuple(tuple(pair) for pair in json.loads(row[4])) if row[4] else None
        return CachedCompletion(Completion(row[0], row[1], row[2], logprobs), row[3], row[5])

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._connection.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def put(
        self,
        key: str,
        identity: dict[str, Any],
        messages: Messages,
        generation: dict[str, Any],
        completion: Completion,
        seconds: float,
        tier: str = "online",
    ) -> None:
        self.put_many([(key, messages, generation, completion, seconds)], identity, tier)

    def put_many(
        self,
        replies: Sequence[tuple[str, Messages, dict[str, Any], Completion, float]],
        identity: dict[str, Any],
        tier: str = "online",
    ) -> None:
        """Store (key, messages, generation, completion, seconds) replies in one transaction (a batch
        job's output file lands at once; ingesting it line by line would be ~100x slower)."""
        now = time.time()
        # the endpoint stays out of the stored row (it may carry a token in its query string)
        rows = [
            (
                key,
                identity.get("backend"),
                identity.get("model"),
                json.dumps({"messages": messages, "generation": generation}, ensure_ascii=False),
                completion.text,
                completion.input_tokens,
                completion.output_tokens,
                seconds,
                now,
                json.dumps(completion.token_logprobs) if completion.token_logprobs is not None else None,
                tier,
            )
            for key, messages, generation, completion, seconds in replies
        ]
        with self._lock:
            self._connection.execute("BEGIN")
            self._connection.executemany(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            self._connection.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._connection.close()
