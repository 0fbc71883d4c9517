"""Expert-label accounting: every gold-labelled sentence a result consumed, counted by purpose.

The study asks how many expert labels an NER model needs, so gold labels used anywhere --
training, few-shot demonstrations, choosing a model or a prompt, an expert budget -- are costs,
and a result is reported beside the gold it consumed. Evaluation labels are counted too but are
not charged to a result: every result is scored on the same held-out gold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from .tags import bio_to_spans

# purposes charged to the result that consumed them, and the one that is not
CHARGED_PURPOSES = ("training", "demonstrations", "model_selection", "expert_budget")
PURPOSES = (*CHARGED_PURPOSES, "evaluation")
USAGE_COLUMNS = ["consumer", "purpose", "what", "sentences", "tokens", "entities"]


def gold_usage(
    consumer: str, purpose: str, what: str, sentences: pd.DataFrame | None, tag_column: str = "ner_tags"
) -> dict:
    """One row: ``consumer`` (a model, a labeller) used the gold tags of ``sentences`` for ``purpose``."""
    if purpose not in PURPOSES:
        raise ValueError(f"gold-label purpose must be one of {PURPOSES}, got {purpose!r}")
    if sentences is None or sentences.empty:
        return {"consumer": consumer, "purpose": purpose, "what": what, "sentences": 0, "tokens": 0, "entities": 0}
    return {
        "consumer": consumer,
        "purpose": purpose,
        "what": what,
        "sentences": len(sentences),
        "tokens": int(sum(len(t) for t in sentences["tokens"])),
        "entities": int(sum(len(bio_to_spans(list(t))) for t in sentences[tag_column])),
    }


def usage_table(rows: Iterable[Mapping]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=USAGE_COLUMNS)


def check_usage(usage: pd.DataFrame, source: str = "gold usage") -> None:
    """A usage table made elsewhere (another pipeline, a file): its columns, purposes and counts."""
    missing = [column for column in USAGE_COLUMNS if column not in usage.columns]
    if missing:
        raise ValueError(f"{source} lacks column(s) {missing}; expected {USAGE_COLUMNS}")
    unknown = sorted(set(usage["purpose"]) - set(PURPOSES))
    if unknown:
        raise ValueError(f"{source}: unknown purpose(s) {unknown}; allowed: {PURPOSES}")
    counts = usage[["sentences", "tokens", "entities"]]
    if counts.isna().any().any() or (counts < 0).any().any():
        raise ValueError(f"{source}: sentences, tokens and entities must be counts >= 0")


def charge_to(usage: pd.DataFrame, consumer: str) -> pd.DataFrame:
    """``usage``'s rows charged to ``consumer`` as well, e.g. an LLM labeller's demonstrations and
    prompt selection to the model trained on its labels. ``what`` keeps who consumed them first."""
    check_usage(usage)
    charged = usage[USAGE_COLUMNS].copy()
    charged["what"] = charged["consumer"].astype(str) + ": " + charged["what"].astype(str)
    charged["consumer"] = consumer
    return charged.reset_index(drop=True)


def charged_gold(usage: pd.DataFrame, consumers: Iterable[str] | None = None) -> pd.DataFrame:
    """Per consumer: gold sentences/tokens/entities per charged purpose and in total (evaluation apart).

    ``consumers``: exactly these rows, in this order, with zeros for one that consumed nothing.
    """
    charged = usage[usage["purpose"].isin(CHARGED_PURPOSES)]
    table = charged.pivot_table(index="consumer", columns="purpose", values="sentences", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=list(CHARGED_PURPOSES), fill_value=0)
    totals = charged.groupby("consumer")[["sentences", "tokens", "entities"]].sum()
    table = table.add_suffix("_sentences").join(totals.add_prefix("charged_"))
    if consumers is not None:
        table = table.reindex(list(consumers), fill_value=0)
    return table.rename_axis("consumer").reset_index()
