"""A Kedro dataset for a trained :class:`~llm_ner.model.tagger.Tagger`: a folder holding
safetensors weights, the tagger/encoder configs, the tokenizer and the label list.

With ``versioned: true`` every save goes to ``<filepath>/<timestamp>/<name>/`` and a load takes the
newest version (or the one pinned with ``--load-versions``), like Kedro's file datasets::

    model_gold:
      type: llm_ner.datasets.tagger_model.TaggerModelDataset
      filepath: data/06_models/model_gold
      versioned: true

In a notebook: ``tagger = catalog.load("model_gold")``, then
``llm_ner.model.tag_text(tagger, "Some text")``.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from llm_ner.model.tagger import WEIGHTS_FILE, Tagger


class TaggerModelDataset(AbstractVersionedDataset[Tagger, Tagger]):
    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        """``load_args`` may hold ``device`` (default ``cpu``): where a loaded tagger is placed."""
        super().__init__(PurePosixPath(Path(filepath).as_posix()), version)
        self._load_args = dict(load_args or {})
        unknown = set(self._load_args) - {"device"}
        if unknown:
            raise DatasetError(f"TaggerModelDataset load_args: unknown {sorted(unknown)}; allowed: ['device']")
        self.metadata = metadata

    def load(self) -> Tagger:
        return Tagger.load(Path(self._get_load_path()), device=self._load_args.get("device", "cpu"))

    def save(self, data: Tagger) -> None:
        if not isinstance(data, Tagger):
            raise DatasetError(f"TaggerModelDataset saves a Tagger, got {type(data).__name__}")
        path = Path(self._get_save_path())
        if path.exists():  # unversioned: replace the folder rather than mix old and new files
            shutil.rmtree(path)
        data.save(path)

    def _exists(self) -> bool:
        try:
            path = Path(self._get_load_path())
        except DatasetError:
            return False
        return (path / WEIGHTS_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version, "load_args": self._load_args}


class TaggerCheckpointsDataset(TaggerModelDataset):
    """Several named taggers in one folder, ``<filepath>[/<timestamp>]/<name>/`` -- e.g. the active
    learning loop's ``active_iter_<i>_added_<n>`` checkpoints. Saves a ``{name: Tagger}`` dict;
    loads ``{name: loader}`` like Kedro's partitioned datasets, so nothing loads until asked::

        checkpoints = catalog.load("active_learning_checkpoints")
        tagger = checkpoints["mean_token_entropy/active_iter_2_added_20"]()
    """

    def load(self) -> dict[str, Any]:
        root = Path(self._get_load_path())
        device = self._load_args.get("device", "cpu")
        names = sorted(p.parent.relative_to(root).as_posix() for p in root.rglob(WEIGHTS_FILE))
        return {name: (lambda folder=root / name: Tagger.load(folder, device=device)) for name in names}

    def save(self, data: dict[str, Tagger]) -> None:
        if not isinstance(data, dict) or not all(isinstance(t, Tagger) for t in data.values()):
            raise DatasetError("TaggerCheckpointsDataset saves a {name: Tagger} dict")
        root = Path(self._get_save_path())
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        for name, tagger in data.items():
            tagger.save(root / name)

    def _exists(self) -> bool:
        try:
            root = Path(self._get_load_path())
        except DatasetError:
            return False
        return root.is_dir() and any(root.rglob(WEIGHTS_FILE))
