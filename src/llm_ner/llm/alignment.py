"""Map entity mentions (free text from an LLM) back onto CoNLL tokens.

Matching compares token windows with the mention with whitespace removed, so ``Stottlemyre's``
finds the tokens ``Stottlemyre 's`` and ``St. Louis`` finds ``St. Louis``. Tried in order:
exact, case-insensitive, then fuzzy (rapidfuzz ratio above a threshold, best window only).
Exact and case-insensitive matches label every occurrence, as CoNLL annotates repeated mentions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

MATCH_KINDS = ("exact", "casefold", "fuzzy")
_STRIP = " \t\n\"'`“”‘’"


@dataclass(frozen=True)
class MentionMatch:
    windows: tuple[tuple[int, int], ...]  # (start, end) token windows, end exclusive; empty = not found
    kind: str | None  # one of MATCH_KINDS, None when not found


def _compact(text: str) -> str:
    return "".join(text.split())


def _windows(tokens: Sequence[str], min_chars: int, max_chars: int):
    """(start, end, compact text) of every token window whose length lies in [min_chars, max_chars]."""
    for start in range(len(tokens)):
        text = ""
        for end in range(start + 1, len(tokens) + 1):
            text += tokens[end - 1]
            if len(text) > max_chars:
                break
            if len(text) >= min_chars:
                yield start, end, text


def _non_overlapping(windows: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(windows, key=lambda w: (w[0], -(w[1] - w[0]))):
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, end))
    return tuple(chosen)


def find_mention(tokens: Sequence[str], mention: str, fuzzy_threshold: float = 85.0) -> MentionMatch:
    target = _compact(str(mention).strip(_STRIP))
    if not target or not tokens:
        return MentionMatch((), None)
    exact = [(s, e) for s, e, text in _windows(tokens, len(target), len(target)) if text == target]
    if exact:
        return MentionMatch(_non_overlapping(exact), "exact")
    folded = target.casefold()
    casefold = [(s, e) for s, e, text in _windows(tokens, len(target), len(target)) if text.casefold() == folded]
    if casefold:
        return MentionMatch(_non_overlapping(casefold), "casefold")
    best, best_score = None, fuzzy_threshold
    low, high = int(len(target) * 0.7), int(len(target) * 1.3) + 1
    for start, end, text in _windows(tokens, low, high):
        score = fuzz.ratio(text.casefold(), folded)
        if score >= best_score and (best is None or score > best_score or end - start < best[1] - best[0]):
            best, best_score = (start, end), score
    if best is not None:
        return MentionMatch((best,), "fuzzy")
    return MentionMatch((), None)
