"""A local HTTP server speaking the OpenAI chat-completions API, with scripted replies.

The test double for a remote LLM service. ``responder(user_text, attempt)`` returns an action:

* ``("reply", content)`` -- 200 with that message content and a usage field; when the request
  asks for ``logprobs``, ``("reply", content, [(token, logprob), ...])`` scripts them (default:
  one token per character, each with log-probability 0);
* ``("status", code)`` -- an error status with an OpenAI-style error body; optionally
  ``("status", code, error_code, headers)`` (e.g. ``"insufficient_quota"``, ``{"Retry-After": "1"}``);
* ``("sleep", seconds, content)`` -- wait (to trigger client timeouts), then reply;
* ``("drop",)`` -- close the connection without answering.

``attempt`` counts earlier requests with the same user text, so a script can fail first and
succeed later. Every request and every completed reply is recorded for assertions.

It also speaks the Batch API: ``/v1/files`` (upload, content) and ``/v1/batches`` (create, retrieve,
list, cancel). Each created batch follows the :class:`Lifecycle` that ``lifecycles(n)`` gives the
n-th batch (default: validating -> in_progress -> completed); its lines are answered by the same
``responder`` as online requests, so a batch run sees the replies an online run sees.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Action = tuple
Responder = Callable[[str, int], Action]


@dataclass(frozen=True)
class Lifecycle:
    """What one batch does. ``end``: completed | expired | cancelled | failed (validation: the
    input is rejected with ``message``). ``polls``: retrieves after the first (which ends the
    validation) that see it in_progress before it ends; 0 ends it at the first retrieve.
    ``answered``: for expired/cancelled, how many lines (in file order) got done first; the rest
    land in the error file as batch_expired / batch_cancelled. A line whose responder action is
    ``("status", code)`` lands in the error file with that status, as the real API does."""

    end: str = "completed"
    polls: int = 1
    answered: int = 0
    message: str = "Invalid 'custom_id': duplicate value"


def _user_text(body: dict) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def chat_completion(body: dict, content: str, tokens: list | None = None) -> dict:
    """The chat.completion object for ``content`` (usage counted in words, like the online path)."""
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    logprobs = None
    if body.get("logprobs"):
        tokens = tokens if tokens is not None else [(character, 0.0) for character in content]
        logprobs = {"content": [{"token": t, "logprob": lp, "bytes": None, "top_logprobs": []} for t, lp in tokens]}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": logprobs,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt_tokens + len(content.split()),
        },
    }


class FakeOpenAIServer:
    def __init__(
        self,
        responder: Responder,
        port: int = 0,
        delay_s: float = 0.0,
        lifecycles: Callable[[int], Lifecycle] = lambda n: Lifecycle(),
    ):
        self.responder = responder
        self.delay_s = delay_s
        self.lifecycles = lifecycles
        self.requests: list[dict[str, Any]] = []
        self.attempts: Counter = Counter()
        self.completed: Counter = Counter()  # user text -> replies fully sent
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}  # id -> the batch object, plus its lifecycle and polls
        self.calls: Counter = Counter()  # batch API operation -> times called ("files.create", "batches.create", ...)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.endswith("/files"):
                    return self._send(200, server._upload(self.headers["Content-Type"], data))
                if self.path.endswith("/batches"):
                    return self._send(200, server._create_batch(json.loads(data)))
                if self.path.endswith("/cancel"):
                    return self._send(200, server._cancel(self.path.split("/")[-2]))
                body = json.loads(data)
                user = _user_text(body)
                with server._lock:
                    attempt = server.attempts[user]
                    server.attempts[user] += 1
                    server.requests.append(
                        {"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}, "user": user}
                    )
                action = server.responder(user, attempt)
                if server.delay_s:
                    time.sleep(server.delay_s)
                kind = action[0]
                if kind == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    return
                if kind == "status":
                    code = action[2] if len(action) > 2 else None
                    error = {"message": f"scripted {action[1]}", "type": code or "server_error", "code": code}
                    self._send(action[1], {"error": error}, action[3] if len(action) > 3 else {})
                    return
                if kind == "sleep":
                    time.sleep(action[1])
                    action = ("reply", action[2])
                self._send(200, chat_completion(body, action[1], action[2] if len(action) > 2 else None))
                with server._lock:
                    server.completed[user] += 1

            def do_GET(self):
                parts = self.path.split("?")[0].rstrip("/").split("/")
                if parts[-1] == "content" and parts[-3] == "files":
                    with server._lock:
                        server.calls["files.content"] += 1
                    content = server.files[parts[-2]]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    return
                if parts[-1] == "batches":
                    with server._lock:
                        server.calls["batches.list"] += 1
                        listed = [server._public(b) for b in reversed(server.batches.values())]
                    return self._send(
                        200,
                        {
                            "object": "list",
                            "data": listed,
                            "has_more": False,
                            "first_id": listed[0]["id"] if listed else None,
                            "last_id": listed[-1]["id"] if listed else None,
                        },
                    )
                return self._send(200, server._retrieve(parts[-1]))

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- the Batch API ---------------------------------------------------------------------------

    def _upload(self, content_type: str, data: bytes) -> dict[str, Any]:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + data)
        fields = {
            part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()
        }
        with self._lock:
            self.calls["files.create"] += 1
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = fields["file"]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(fields["file"]),
            "created_at": int(time.time()),
            "filename": "requests.jsonl",
            "purpose": fields["purpose"].decode(),
            "status": "processed",
        }

    def _create_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls["batches.create"] += 1
            number = len(self.batches)
            lines = [json.loads(line) for line in self.files[request["input_file_id"]].splitlines() if line.strip()]
            batch = {
                "id": f"batch_{number + 1}",
                "object": "batch",
                "endpoint": request["endpoint"],
                "errors": None,
                "input_file_id": request["input_file_id"],
                "completion_window": request["completion_window"],
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "metadata": request.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "_lifecycle": self.lifecycles(number),
                "_lines": lines,
                "_polls": 0,
            }
            self.batches[batch["id"]] = batch
            return self._public(batch)

    def _retrieve(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            self.calls["batches.retrieve"] += 1
            batch = self.batches[batch_id]
            life: Lifecycle = batch["_lifecycle"]
            if batch["status"] == "validating":
                batch["status"] = "failed" if life.end == "failed" else "in_progress"
                if life.end == "failed":
                    batch["errors"] = {
                        "object": "list",
                        "data": [{"code": "invalid_request", "message": life.message, "line": 2, "param": "custom_id"}],
                    }
            elif batch["status"] in ("in_progress", "cancelling"):
                batch["_polls"] += 1
            if batch["status"] == "cancelling" or (batch["status"] == "in_progress" and batch["_polls"] >= life.polls):
                self._finish(batch, "cancelled" if batch["status"] == "cancelling" else life.end)
            return self._public(batch)

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            self.calls["batches.cancel"] += 1
            self.batches[batch_id]["status"] = "cancelling"
            return self._public(self.batches[batch_id])

    def _finish(self, batch: dict[str, Any], end: str) -> None:
        """Answer the batch's lines (all, or the first ``answered`` of an expired/cancelled one)."""
        life: Lifecycle = batch["_lifecycle"]
        output, errors = [], []
        for number, line in enumerate(batch["_lines"]):
            record = {"id": f"batch_req_{number}", "custom_id": line["custom_id"]}
            if end != "completed" and number >= life.answered:
                errors.append(
                    {
                        **record,
                        "response": None,
                        "error": {
                            "code": f"batch_{end}",
                            "message": f"This request could not be executed before the batch {end}.",
                        },
                    }
                )
                continue
            user = _user_text(line["body"])
            action = self.responder(user, self.attempts[user])
            self.attempts[user] += 1
            if action[0] == "reply":
                body = chat_completion(line["body"], action[1], action[2] if len(action) > 2 else None)
                output.append(
                    {
                        **record,
                        "response": {"status_code": 200, "request_id": f"req_{number}", "body": body},
                        "error": None,
                    }
                )
            else:  # a scripted failure of this request
                code = action[1] if action[0] == "status" else 500
                errors.append(
                    {
                        **record,
                        "response": {
                            "status_code": code,
                            "request_id": f"req_{number}",
                            "body": {
                                "error": {
                                    "message": f"scripted {code}",
                                    "type": "invalid_request_error",
                                    "code": "scripted",
                                }
                            },
                        },
                        "error": None,
                    }
                )
        for kind, records in (("output_file_id", output), ("error_file_id", errors)):
            if records:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in records).encode()
                batch[kind] = file_id
        batch["status"] = end
        batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(output), "failed": len(errors)}

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


_SENTENCE = re.compile(r"Sentence: '?(.*?)'?\s*$", re.MULTILINE)


def capitalised_words_responder(user: str, attempt: int) -> Action:
    """A deterministic stand-in LLM for pipeline plumbing: capitalised words after the first are LOC;
    a topic prompt (S2's, ending in "Input: <sentence>") gets 1 (Sport) for a sentence with a digit,
    else 0 (World)."""
    if "\nInput: " in user:
        sentence = user.rsplit("Input: ", 1)[-1]
        return ("reply", "1" if any(c.isdigit() for c in sentence) else "0")
    match = _SENTENCE.findall(user)
    words = match[-1].split() if match else []
    mentions = [w for w in words[1:] if w[:1].isupper() and w.isalpha()]
    return ("reply", json.dumps({"PER": [], "ORG": [], "LOC": mentions, "MISC": []}))


if __name__ == "__main__":  # `make run-test`: conf/test's fake-llm (llm_models.fake-llm.base_url) outside pytest
    import argparse

    parser = argparse.ArgumentParser(description="Serve the stand-in LLM (capitalised words are LOC) until killed.")
    parser.add_argument("--port", type=int, default=8765)
    port = parser.parse_args().port
    with FakeOpenAIServer(capitalised_words_responder, port=port) as fake:
        print(f"fake OpenAI server at {fake.base_url}", flush=True)
        threading.Event().wait()
