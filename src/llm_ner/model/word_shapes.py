"""Each word's case and shape class, for taggers whose encoder cannot see capitalisation.

An uncased encoder (the offline MiniLM-L6) reads "Paris", "PARIS" and "paris" alike, yet
capitalisation is the strongest single cue for English NER. The tagger therefore embeds one class
per word, computed from the original (never lowercased) word, next to the encoder's output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Class -> examples. A saved tagger stores embeddings by id, and an id is the position here:
# append new classes at the end, never reorder or remove one.
WORD_SHAPES: dict[str, str] = {
    "lower": "the, well-known, 's",  # "xx"
    "title": "Paris, O'Neill, Bosnia-Herzegovina",  # "Xx": every capital starts a letter run
    "upper": "EU, NATO, AT&T",  # "XX"
    "single_capital": "A, I",  # "X"
    "mixed": "McDonald, iPhone, eBay",  # capitals inside a letter run
    "initials": "U.S., J., U.S.A",  # "X.X."
    "digits": "1996, 07",
    "number": "3.5, 1,000, 2-1, -5",  # digits with punctuation
    "punctuation": "., -, (, $",
    "other": "G7, 1990s, 4th, letters without case",
}
PADDING_SHAPE_ID = 0  # batch padding; the embedding keeps this row at zero
SHAPE_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(WORD_SHAPES)}

_INITIALS = re.compile(r"(?:[A-Z]\.)+[A-Z]?")


def word_shape(word: str) -> str:
    """The word's class in :data:`WORD_SHAPES`."""
    if not word:
        return "other"
    if _INITIALS.fullmatch(word):
        return "initials"
    has_digit = any(c.isdigit() for c in word)
    cased = [c for c in word if c.isupper() or c.islower()]
    if not any(c.isalpha() for c in word):
        if not has_digit:
            return "punctuation"
        return "digits" if word.isdigit() else "number"
    if has_digit or not cased:
        return "other"
    capitals = sum(c.isupper() for c in cased)
    if capitals == 0:
        return "lower"
    if capitals == len(cased):
        return "single_capital" if capitals == 1 else "upper"
    if word[0].isupper() and all(not c.isupper() or i == 0 or not word[i - 1].isalpha() for i, c in enumerate(word)):
        return "title"
    return "mixed"


def shape_ids(words: Sequence[str]) -> list[int]:
    return [SHAPE_IDS[word_shape(word)] for word in words]
