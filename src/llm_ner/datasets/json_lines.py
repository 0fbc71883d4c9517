"""A Kedro dataset for a JSON Lines file: a table saved one JSON object per row, in row order, as
``json.dumps`` writes it (UTF-8, no escaped slashes or non-ASCII characters: what ``jq``, spaCy
and Prodigy read); loading gives the table back, nested lists and objects as Python values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError


class JSONLinesDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        rows = []
        with self._filepath.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise DatasetError(f"{self._filepath}:{number}: not JSON ({error.msg})") from None
        return pd.DataFrame(rows)

    def save(self, data: pd.DataFrame) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        partial = self._filepath.with_name(self._filepath.name + ".partial")  # a killed run leaves no half file
        with partial.open("w", encoding="utf-8") as out:
            for record in data.astype(object).where(data.notna(), None).to_dict("records"):  # NaN is not JSON: null
                out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        partial.replace(self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
