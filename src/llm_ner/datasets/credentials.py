"""A read-only dataset that hands Kedro credentials to a node (Kedro gives credentials to datasets only).

Its description never shows the values, so they stay out of logs and kedro-viz.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class CredentialsDataset(AbstractDataset[None, dict]):
    def __init__(self, credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None):
        self._credentials = dict(credentials or {})
        self.metadata = metadata

    def load(self) -> dict:
        return dict(self._credentials)

    def save(self, data: None) -> None:
        raise DatasetError("CredentialsDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"fields": sorted(self._credentials)}  # names only, never values
