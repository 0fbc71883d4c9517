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

from ..conll import read_conll
from ..tags import CONLL_2003, LabelSchema, repair_bio

logger = logging.getLogger(__name__)


def import_conll_labels(
    path: str | Path,
    reference: pd.DataFrame,
    schema: LabelSchema = CONLL_2003,
    strategy: str = "external",
    model: str = "external",
) -> tuple[pd.DataFrame, dict]:
    """(labels in the ``llm_labels`` layout, a report of what was matched and repaired)."""
    imported = read_conll(path, on_unknown_tag="keep")
    positions: dict[tuple, list[int]] = defaultdict(list)
    for position, tokens in enumerate(reference["tokens"]):
        positions[tuple(tokens)].append(position)
    used: Counter = Counter()
    rows, unmatched, unknown_tags, orphans = [], 0, Counter(), 0
    for sentence in imported:
        key = tuple(sentence.tokens)
        candidates = positions.get(key)
        if not candidates:
            unmatched += 1
            continue
        position = candidates[min(used[key], len(candidates) - 1)]
        used[key] += 1
        tags, report = repair_bio(sentence.ner_tags, schema)
        unknown_tags.update(report.unknown_tags)
        orphans += report.orphans_fixed
        reasons = []
        if report.unknown_tags:
            reasons.append(f"invalid_tag:{len(report.unknown_tags)}")
        if report.orphans_fixed:
            reasons.append(f"bio_repaired:{report.orphans_fixed}")
        ref = reference.iloc[position]
        rows.append(
            {
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
        )
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
