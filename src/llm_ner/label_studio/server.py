"""The few REST calls between this project and a running Label Studio: a project with our
labeling config, tasks imported once each, and the JSON export of what annotators submitted.

Why REST over ``requests`` rather than ``label-studio-sdk``: the SDK (2.1) pins numpy < 2.3 and
pulls opencv, nltk, black and Faker into the project's environment; these three calls are its
documented endpoints (``/api/projects``, ``/api/projects/{id}/import``, ``/api/projects/{id}/export``).

Authentication takes either kind of Label Studio token: a personal access token (a JWT refresh
token, the default since 1.18: exchanged at ``/api/token/refresh`` for short-lived access tokens)
or a legacy API token (``Authorization: Token ...``). The token never appears in errors or logs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from .annotations import load_export_file

logger = logging.getLogger(__name__)


class LabelStudioError(RuntimeError):
    """Label Studio cannot be used as configured (unreachable, token refused, request rejected): one line."""


def _is_personal_access_token(token: str) -> bool:
    return token.count(".") == 2  # a JWT: header.payload.signature


class LabelStudioClient:
    def __init__(self, url: str, api_key: str, timeout_s: float = 60.0):
        if not url or not api_key:
            raise LabelStudioError(
                "Label Studio needs label_studio.url and an api_key "
                "(conf/local/credentials.yml: label_studio.api_key, or $LABEL_STUDIO_API_KEY)"
            )
        self.url, self._key, self._timeout = url.rstrip("/"), api_key, timeout_s
        self._session = requests.Session()
        self._access: str | None = None

    def _authorisation(self, renew: bool = False) -> str:
        if not _is_personal_access_token(self._key):
            return f"Token {self._key}"
        if self._access is None or renew:
            reply = self._send("POST", "/api/token/refresh", json={"refresh": self._key}, authorise=False)
            self._access = reply.json()["access"]
        return f"Bearer {self._access}"

    def _send(self, method: str, path: str, authorise: bool = True, **kwargs) -> requests.Response:
        for attempt in (0, 1):
            headers = {"Authorization": self._authorisation(renew=attempt == 1)} if authorise else {}
            try:
                reply = self._session.request(method, self.url + path, headers=headers, timeout=self._timeout, **kwargs)
            except requests.RequestException as exc:
                raise LabelStudioError(
                    f"Label Studio at {self.url} is unreachable ({type(exc).__name__}); "
                    f"start it with `make label-studio` or fix label_studio.url"
                ) from None
            # an access token expires after minutes: renew it once, then believe the 401
            if reply.status_code == 401 and authorise and attempt == 0 and _is_personal_access_token(self._key):
                continue
            break
        if reply.status_code in (401, 403):
            raise LabelStudioError(
                f"Label Studio at {self.url} refused the token (HTTP {reply.status_code}: "
                f"{_detail(reply)}); check label_studio.api_key"
            )
        if reply.status_code >= 400:
            raise LabelStudioError(f"Label Studio {method} {path}: HTTP {reply.status_code}: {_detail(reply)}")
        return reply

    def project(self, title: str, label_config: str) -> int:
        """The id of the project called ``title``, created with ``label_config`` when there is none
        (a rerun adds to the same project instead of making another)."""
        page, found = 1, None
        while found is None:
            reply = self._send("GET", "/api/projects", params={"title": title, "page": page, "page_size": 100}).json()
            results = reply.get("results", reply) if isinstance(reply, dict) else reply
            found = next((p for p in results if p.get("title") == title), None)
            if found is not None or not (isinstance(reply, dict) and reply.get("next")):
                break
            page += 1
        if found is not None:
            if found.get("label_config", "").strip() != label_config.strip():
                logger.warning(
                    "Label Studio project %r (id %s) has another labeling config; keeping its own", title, found["id"]
                )
            return int(found["id"])
        created = self._send("POST", "/api/projects", json={"title": title, "label_config": label_config}).json()
        logger.info("Label Studio: created project %r (id %s)", title, created["id"])
        return int(created["id"])

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every task of the project with its annotations (Label Studio's JSON export format)."""
        return self._send(
            "GET", f"/api/projects/{project_id}/export", params={"exportType": "JSON", "download_all_tasks": "true"}
        ).json()

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Import the tasks whose sentence the project does not have yet; the number imported."""
        present = {t["data"].get("sentence_id") for t in self.export(project_id)}
        new = [t for t in tasks if t["data"]["sentence_id"] not in present]
        if new:
            self._send("POST", f"/api/projects/{project_id}/import", json=new)
        logger.info(
            "Label Studio: %d tasks imported into project %s, %d already there",
            len(new),
            project_id,
            len(tasks) - len(new),
        )
        return len(new)

    def project_id(self, title: str) -> int | None:
        """The id of the project called ``title``, or None when there is none (nothing is created)."""
        page = 1
        while True:
            reply = self._send("GET", "/api/projects", params={"title": title, "page": page, "page_size": 100}).json()
            results = reply.get("results", reply) if isinstance(reply, dict) else reply
            found = next((p for p in results if p.get("title") == title), None)
            if found is not None:
                return int(found["id"])
            if not (isinstance(reply, dict) and reply.get("next")):
                return None
            page += 1

    def tasks(self, project_id: int, page_size: int = 100) -> list[dict[str, Any]]:
        """Every task of the project as the data manager lists it (``data``, ``annotations``,
        ``total_annotations``, ``cancelled_annotations`` ...), fetched page by page."""
        tasks: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"project": project_id, "page": page, "page_size": page_size, "fields": "all"}
            reply = self._send("GET", "/api/tasks", params=params).json()
            if isinstance(reply, list):  # an unpaginated answer: all of them at once
                return reply
            batch = reply.get("tasks", [])
            tasks.extend(batch)
            # a page past the last is an error (HTTP 404), so stop at the total rather than at an empty page
            if len(batch) < page_size or len(tasks) >= int(reply.get("total", len(tasks))):
                return tasks
            page += 1

    def annotate(self, task_id: int, result: list[dict[str, Any]], lead_time: float) -> dict[str, Any]:
        """Submit one annotation of a task, as the labeling interface posts it on *Submit*: the
        regions (``result``) and the seconds the annotator took (``lead_time``). The created annotation."""
        body = {"result": result, "lead_time": lead_time, "was_cancelled": False}
        return self._send("POST", f"/api/tasks/{task_id}/annotations/", json=body).json()


def connect(credentials: Mapping[str, Any]) -> LabelStudioClient | None:
    """The client of the configured server -- credentials ``label_studio.url`` / ``api_key``, or
    ``$LABEL_STUDIO_URL`` / ``$LABEL_STUDIO_API_KEY`` -- or None when no server is configured."""
    url = credentials.get("url") or os.environ.get("LABEL_STUDIO_URL")
    if not url:
        return None
    return LabelStudioClient(url, credentials.get("api_key") or os.environ.get("LABEL_STUDIO_API_KEY"))


def annotations_so_far(
    credentials: Mapping[str, Any],
    project: str,
    label_config: str,
    import_path: str | None = None,
    tasks: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """What annotators submitted so far, as a Label Studio JSON export: from the configured server's
    project (after importing the ``tasks`` it lacks), else from the export file at ``import_path``,
    else nothing."""
    client = connect(credentials)
    if client is not None:
        project_id = client.project(project, label_config)
        if tasks:
            client.import_tasks(project_id, list(tasks))
        return client.export(project_id)
    return load_export_file(import_path) if import_path else []


def _detail(reply: requests.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:200].strip() or reply.reason
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("validation_errors") or body
        return str(detail)[:300]
    return str(body)[:300]
