"""A real Label Studio server for tests (from ``.venv-label-studio``, which `make install-test`
and `make label-studio` create; SQLite in a scratch directory), and annotators who use it the way
their browser does: a logged-in session (cookie + CSRF) that posts annotations to
``/api/tasks/{id}/annotations``, with the time they took as ``lead_time``."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LABEL_STUDIO = Path(os.environ.get("LABEL_STUDIO_VENV", PROJECT_ROOT / ".venv-label-studio")) / "bin" / "label-studio"
OWNER = ("owner@example.com", "owner-pass-1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """One person logged in to Label Studio."""

    def __init__(self, url: str, email: str, password: str, signup_link: str | None = None):
        self.url, self.session = url, requests.Session()
        page = signup_link or "/user/login/"
        self.session.get(url + page, timeout=30)
        reply = self.session.post(
            url + page,
            data={"email": email, "password": password, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]},
            headers={"Referer": url + page},
            timeout=30,
        )
        reply.raise_for_status()
        self.user = self.call("GET", "/api/current-user/whoami")
        assert self.user["email"] == email, f"not logged in as {email}"

    def call(self, method: str, path: str, **kwargs) -> Any:
        headers = {"X-CSRFToken": self.session.cookies.get("csrftoken", ""), "Referer": self.url}
        reply = self.session.request(method, self.url + path, headers=headers, timeout=60, **kwargs)
        assert reply.status_code < 400, f"{method} {path}: {reply.status_code} {reply.text[:300]}"
        return reply.json() if reply.content else None

    def tasks(self, project_id: int) -> list[dict]:
        reply = self.call("GET", "/api/tasks", params={"project": project_id, "page_size": 1000, "fields": "all"})
        return reply["tasks"]

    def submit(self, task: dict, result: list[dict], lead_time: float, cancelled: bool = False) -> dict:
        """What the labeling interface posts on *Submit* (or *Skip*: ``cancelled``)."""
        predictions = task.get("predictions") or []
        body = {
            "result": result,
            "lead_time": lead_time,
            "was_cancelled": cancelled,
            "draft_id": 0,
            "parent_prediction": predictions[0]["id"] if predictions else None,
            "parent_annotation": None,
        }
        return self.call("POST", f"/api/tasks/{task['id']}/annotations/?project={task['project']}", json=body)


class LabelStudioServer:
    """``label-studio start`` on 127.0.0.1 with its database under ``data_dir``; its owner's
    personal access token is ``token``."""

    def __init__(self, data_dir: Path):
        if not LABEL_STUDIO.exists():
            raise FileNotFoundError(f"{LABEL_STUDIO} is not installed: run `make label-studio-install`")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "DJANGO_DB": "sqlite",
            "LABEL_STUDIO_USERNAME": OWNER[0],
            "LABEL_STUDIO_PASSWORD": OWNER[1],
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        }
        self._log = open(data_dir / "server.log", "w")
        self._process = subprocess.Popen(
            [
                str(LABEL_STUDIO),
                "start",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-browser",
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up(data_dir / "server.log")
        self.owner = Browser(self.url, *OWNER)
        self.token = self.owner.call("POST", "/api/token/")["token"]

    def _wait_until_up(self, log: Path, limit_s: float = 240) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Label Studio exited ({self._process.returncode}): {log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError(f"Label Studio did not answer within {limit_s} s: {log.read_text()[-2000:]}")

    def annotator(self, email: str, password: str) -> Browser:
        """A second person, joining the owner's organisation through its invite link."""
        link = self.owner.call("GET", "/api/invite")["invite_url"]
        return Browser(self.url, email, password, signup_link=link)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()
