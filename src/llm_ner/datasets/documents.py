"""A Kedro dataset for a folder (or one file) of raw documents: ``.txt`` files, one document each,
and ``.jsonl`` files, one ``{"id", "text", **meta}`` per line (:mod:`llm_ner.documents`)::

    documents:
      type: llm_ner.datasets.DocumentsDataset
      path: data/01_raw/documents
      segmenter: {line_breaks: paragraph}   # none | paragraph | line

Loading gives the sentence table (``document_id``, ``sentence_id``, ``text`` as written, ``tokens``,
``token_starts``/``token_ends`` -- character offsets in the document) with the documents table in
``attrs["documents"]`` and each document's sentence count and status (``ok`` | ``empty``) in
``attrs["document_counts"]``. ``unit: documents`` loads the documents table itself (``document_id``,
``text``, ``source``, ``meta``): what the inference pipeline and a served model take, since they cut
sentences the way the model was logged with. Read-only: the project never writes your documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError

from llm_ner.documents import SegmenterSettings, document_counts, read_documents, segment

UNITS = ("sentences", "documents")


class DocumentsDataset(AbstractDataset[None, pd.DataFrame]):
    def __init__(
        self,
        path: str,
        unit: Literal["sentences", "documents"] = "sentences",
        segmenter: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if unit not in UNITS:
            raise DatasetError(f"DocumentsDataset unit: must be one of {UNITS}, got {unit!r}")
        self._path = Path(path)
        self._unit = unit
        self._segmenter = SegmenterSettings(**(segmenter or {}))
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        documents = read_documents(self._path)
        if self._unit == "documents":
            return documents
        sentences = segment(documents, self._segmenter)
        sentences.attrs["documents"] = documents
        sentences.attrs["document_counts"] = document_counts(documents, sentences)
        return sentences

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError(f"DocumentsDataset is read-only: it never writes into {self._path}")

    def _exists(self) -> bool:
        return self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "unit": self._unit, "segmenter": self._segmenter}
