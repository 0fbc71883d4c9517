"""Import LLM labels produced elsewhere (a batch job) in CoNLL format as ``llm_labels``.

External files need not keep the corpus order or cover every sentence (the seed's file does
neither), so each imported sentence is matched to the reference sentence table by its tokens;
identical token sequences take the next unused reference sentence. Tags outside the label schema
are counted per tag, reported and repaired to O (the sentence is ``repaired``), orphan I- tags to B-.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from ..conll import Sentence, read_conll
from ..tags import CONLL_2003, LabelSchema, RepairReport, repair_bio

logger = logging.getLogger(__name__)


class _ReferenceMatcher:
    """Finds an imported sentence's position in the reference table by its tokens; identical token
    sequences take the next unused reference sentence (the last one once all are used)."""

    def __init__(self, reference: pd.DataFrame):
        self.positions: dict[tuple, list[int]] = defaultdict(list)
        for position, tokens in enumerate(reference["tokens"]):
            self.positions[tuple(tokens)].append(position)
        self.used: Counter = Counter()

    def position_of(self, tokens: list[str]) -> int | None:
        """The reference position of a sentence with these tokens, or None when no sentence has them."""
        key = tuple(tokens)
        candidates = self.positions.get(key)
        if not candidates:
            return None
        position = candidates[min(self.used[key], len(candidates) - 1)]
        self.used[key] += 1
        return position


def _repair_reasons(repair: RepairReport) -> list[str]:
    """Why a sentence's tags were repaired (its ``failure_reason`` parts); empty when they were not."""
    reasons = []
    if repair.unknown_tags:
        reasons.append(f"invalid_tag:{len(repair.unknown_tags)}")
    if repair.orphans_fixed:
        reasons.append(f"bio_repaired:{repair.orphans_fixed}")
    return reasons


def _label_row(
    sentence: Sentence, ref: pd.Series, tags: list[str], reasons: list[str], strategy: str, model: str
) -> dict:
    """One imported sentence in the ``llm_labels`` layout, with the gold of its reference sentence."""
    return {
        "sentence_id": int(ref["sentence_id"]),
        "document_id": int(ref["document_id"]),
        "tokens": list(sentence.tokens),
        "gold_tags": list(ref["ner_tags"]),
        "llm_tags": tags,
        "status": "repaired" if reasons else "ok",
        "failure_reason": ";".join(reasons),
        "strategy": strategy,
        "model": model,
    }


def import_conll_labels(
    path: str | Path,
    reference: pd.DataFrame,
    schema: LabelSchema = CONLL_2003,
    strategy: str = "external",
    model: str = "external",
) -> tuple[pd.DataFrame, dict]:
    """(labels in the ``llm_labels`` layout, a report of what was matched and repaired)."""
    imported = read_conll(path, on_unknown_tag="keep")
    matcher = _ReferenceMatcher(reference)
    rows, unmatched, unknown_tags, orphans = [], 0, Counter(), 0
    for sentence in imported:
        position = matcher.position_of(sentence.tokens)
        if position is None:
            unmatched += 1
            continue
        tags, repair = repair_bio(sentence.ner_tags, schema)
        unknown_tags.update(repair.unknown_tags)
        orphans += repair.orphans_fixed
        rows.append(_label_row(sentence, reference.iloc[position], tags, _repair_reasons(repair), strategy, model))
    if unknown_tags:
        logger.warning(
            "%s: %d tags outside the entity types %s became O: %s",
            path,
            sum(unknown_tags.values()),
            schema.describe(),
            dict(unknown_tags),
        )
    report = {
        "source": str(path),
        "sentences_in_file": len(imported),
        "matched": len(rows),
        "unmatched": unmatched,
        "invalid_tags": dict(unknown_tags),
        "invalid_tag_count": sum(unknown_tags.values()),
        "orphan_i_tags_repaired": orphans,
    }
    return pd.DataFrame(rows), report
