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
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Action = tuple
Responder = Callable[[str, int], Action]


class FakeOpenAIServer:
    def __init__(self, responder: Responder, port: int = 0, delay_s: float = 0.0):
        self.responder = responder
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.attempts: Counter = Counter()
        self.completed: Counter = Counter()  # user text -> replies fully sent
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
                with server._lock:
                    attempt = server.attempts[user]
                    server.attempts[user] += 1
                    server.requests.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}, "user": user})
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
                content = action[1]
                prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
                logprobs = None
                if body.get("logprobs"):
                    tokens = action[2] if len(action) > 2 else [(character, 0.0) for character in content]
                    logprobs = {"content": [{"token": t, "logprob": lp, "bytes": None, "top_logprobs": []} for t, lp in tokens]}
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                                 "logprobs": logprobs}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()),
                              "total_tokens": prompt_tokens + len(content.split())},
                })
                with server._lock:
                    server.completed[user] += 1

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

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAIServer":
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
