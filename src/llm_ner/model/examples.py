"""Labelled sentences, the unit every student trains and is scored on, and the one conversion from
sentence tables (a ``tokens`` column and a tag column) to them."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import NamedTuple

import pandas as pd

SOURCES = ("gold", "llm")
NO_TOPIC = -1


class LabelledSentence(NamedTuple):
    """Tokens and their BIO tags; for training also a loss weight and where the tags came from.

    ``weight`` scales the sentence's token losses (the batch loss is the weighted mean over its
    labelled tokens), so 1.0 everywhere is plain cross-entropy. ``source`` (``gold`` | ``llm``)
    is bookkeeping: training histories count each epoch's sentences per source. ``topic`` is the
    sentence's class for a multitask tagger's sequence head (an index into its
    ``sequence_classes``; -1 = none, no sequence loss).
    """

    tokens: Sequence[str]
    tags: Sequence[str]
    weight: float = 1.0
    source: str = "gold"
    topic: int = NO_TOPIC


def as_labelled(sentence: Sequence) -> LabelledSentence:
    """A :class:`LabelledSentence` from one, or from a plain ``(tokens, tags)`` pair."""
    if isinstance(sentence, LabelledSentence):
        return LabelledSentence(
            list(sentence.tokens), list(sentence.tags), float(sentence.weight), sentence.source, int(sentence.topic)
        )
    tokens, tags = sentence
    return LabelledSentence(list(tokens), list(tags))


def labelled_sentences(table: pd.DataFrame, tag_column: str = "ner_tags") -> list[LabelledSentence]:
    """The sentences of a table as plain lists (parquet hands back numpy arrays).

    Weights come from a ``weight`` column (else 1.0); the source from a ``source`` column, else
    ``llm`` for ``llm_tags`` and ``gold`` for any other tag column; topics from a ``topic`` column.
    """
    weights = table["weight"] if "weight" in table else repeat(1.0)
    sources = table["source"] if "source" in table else repeat("llm" if tag_column == "llm_tags" else "gold")
    topics = table["topic"] if "topic" in table else repeat(NO_TOPIC)
    return [
        LabelledSentence(list(tokens), list(tags), float(weight), source, int(topic))
        for tokens, tags, weight, source, topic in zip(table["tokens"], table[tag_column], weights, sources, topics)
    ]
