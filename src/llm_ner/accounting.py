"""Expert-label accounting: every gold-labelled sentence a result consumed, counted by purpose.

The study asks how many expert labels an NER model needs, so gold labels used anywhere --
training, few-shot demonstrations, choosing a model or a prompt, an expert budget -- are costs,
and a result is reported beside the gold it consumed. Evaluation labels are counted too but are
not charged to a result: every result is scored on the same held-out gold.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from .tags import bio_to_spans

# purposes charged to the result that consumed them, and the one that is not
CHARGED_PURPOSES = ("training", "demonstrations", "model_selection", "expert_budget")
PURPOSES = (*CHARGED_PURPOSES, "evaluation")
USAGE_COLUMNS = ["consumer", "purpose", "what", "sentences", "tokens", "entities"]


def gold_usage(consumer: str, purpose: str, what: str, sentences: pd.DataFrame | None,
               tag_column: str = "ner_tags") -> dict:
    """One row: ``consumer`` (a model, a labeller) used the gold tags of ``sentences`` for ``purpose``."""
    if purpose not in PURPOSES:
        raise ValueError(f"gold-label purpose must be one of {PURPOSES}, got {purpose!r}")
    if sentences is None or sentences.empty:
        return {"consumer": consumer, "purpose": purpose, "what": what, "sentences": 0, "tokens": 0, "entities": 0}
    return {
        "consumer": consumer, "purpose": purpose, "what": what,
        "sentences": len(sentences),
        "tokens": int(sum(len(t) for t in sentences["tokens"])),
        "entities": int(sum(len(bio_to_spans(list(t))) for t in sentences[tag_column])),
    }


def usage_table(rows: Iterable[Mapping]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=USAGE_COLUMNS)


def charged_gold(usage: pd.DataFrame) -> pd.DataFrame:
    """Per consumer: gold sentences/tokens/entities per charged purpose and in total (evaluation apart)."""
    charged = usage[usage["purpose"].isin(CHARGED_PURPOSES)]
    table = charged.pivot_table(index="consumer", columns="purpose", values="sentences", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=list(CHARGED_PURPOSES), fill_value=0)
    totals = charged.groupby("consumer")[["sentences", "tokens", "entities"]].sum()
    table = table.add_suffix("_sentences").join(totals.add_prefix("charged_"))
    return table.reset_index()
