"""On-disk cache of LLM calls (SQLite), so each request is paid for once.

The key is a hash of backend kind, model, the full messages and the generation parameters --
everything that decides the reply and nothing secret (keys and URLs never enter it). Each reply
is committed as soon as it arrives, so a run killed halfway resumes and pays only for the rest.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import Completion, Messages


@dataclass(frozen=True)
class CachedCompletion:
    completion: Completion
    seconds: float  # how long the original call took: latency stays measurable on cached reruns


def request_key(backend: str, model: str, messages: Messages, generation: dict[str, Any]) -> str:
    request = {"backend": backend, "model": model, "messages": messages, "generation": generation}
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            """CREATE TABLE IF NOT EXISTS responses (
                   key TEXT PRIMARY KEY, backend TEXT, model TEXT, request TEXT, text TEXT,
                   input_tokens INTEGER, output_tokens INTEGER, seconds REAL, created REAL)"""
        )

    def get(self, key: str) -> CachedCompletion | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT text, input_tokens, output_tokens, seconds FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return CachedCompletion(Completion(row[0], row[1], row[2]), row[3])

    def put(self, key: str, backend: str, model: str, messages: Messages, generation: dict[str, Any],
            completion: Completion, seconds: float) -> None:
        request = json.dumps({"messages": messages, "generation": generation}, ensure_ascii=False)
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, backend, model, request, completion.text, completion.input_tokens,
                 completion.output_tokens, seconds, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._connection.close()
