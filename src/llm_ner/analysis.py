"""Descriptive statistics of sentence tables: sizes, tag distributions, entities, lengths,
and how many evaluation entities were never seen in training. Pure pandas, one table per question."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # plots are written to files; never open a window
import matplotlib.pyplot as plt
import pandas as pd

from .tags import bio_to_spans

Tables = Mapping[str, pd.DataFrame]  # split name -> sentence table
TAG_COLUMNS = ("pos_tags", "chunk_tags", "ner_tags")


def entity_mentions(table: pd.DataFrame) -> pd.DataFrame:
    """One row per gold entity: sentence, type, surface string and length in tokens."""
    rows = [
        (sid, span.label, " ".join(tokens[span.start : span.end]), span.end - span.start)
        for sid, tokens, tags in zip(table["sentence_id"], table["tokens"], table["ner_tags"])
        for span in bio_to_spans(tags)
    ]
    return pd.DataFrame(rows, columns=["sentence_id", "entity_type", "text", "length"])


def split_summary(tables: Tables) -> pd.DataFrame:
    rows = []
    for split, table in tables.items():
        lengths = table["tokens"].map(len)
        rows.append(
            {
                "split": split,
                "sentences": len(table),
                "tokens": int(lengths.sum()),
                "documents": int(table["document_id"].nunique()),
                "entities": len(entity_mentions(table)),
                "mean_sentence_length": float(lengths.mean()),
                "max_sentence_length": int(lengths.max()),
            }
        )
    return pd.DataFrame(rows)


def tag_distribution(tables: Tables) -> pd.DataFrame:
    """Counts and within-split shares of every POS, chunk and NER tag (columns absent in 2-column input are skipped)."""
    frames = []
    for split, table in tables.items():
        for column in TAG_COLUMNS:
            if column not in table or table[column].isna().any():
                continue
            counts = Counter(tag for tags in table[column] for tag in tags)
            frame = pd.DataFrame(sorted(counts.items(), key=lambda kv: -kv[1]), columns=["tag", "count"])
            frame.insert(0, "tag_kind", column.removesuffix("_tags"))
            frame.insert(0, "split", split)
            frame["share"] = frame["count"] / frame["count"].sum()
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def entities_per_type(tables: Tables, entity_types: Sequence[str]) -> pd.DataFrame:
    """Mentions per split and type, a row for every type of the schema (0 where it never occurs)."""
    frames = []
    for split, table in tables.items():
        counts = entity_mentions(table)["entity_type"].value_counts().reindex(list(entity_types), fill_value=0)
        frames.append(pd.DataFrame({"split": split, "entity_type": counts.index, "count": counts.values}))
    return pd.concat(frames, ignore_index=True)


def length_distribution(tables: Tables, what: str) -> pd.DataFrame:
    """Histogram (length -> count) of ``what`` = ``sentence`` (tokens per sentence) or ``entity``
    (tokens per entity, per type)."""
    frames = []
    for split, table in tables.items():
        if what == "sentence":
            lengths = pd.DataFrame({"entity_type": "ALL", "length": table["tokens"].map(len)})
        elif what == "entity":
            lengths = entity_mentions(table)[["entity_type", "length"]]
        else:
            raise ValueError(f"what must be 'sentence' or 'entity', got {what!r}")
        counts = lengths.groupby(["entity_type", "length"]).size().rename("count").reset_index()
        counts.insert(0, "split", split)
        frames.append(counts)
    return pd.concat(frames, ignore_index=True)


def unseen_entities(train: pd.DataFrame, evaluation: Tables, entity_types: Sequence[str]) -> pd.DataFrame:
    """Share of evaluation entity mentions (and distinct strings) whose exact text never occurs as
    an entity of the same type in ``train`` -- the part a model cannot simply memorise."""
    train_mentions = entity_mentions(train)
    seen = set(zip(train_mentions["entity_type"], train_mentions["text"]))
    rows = []
    for split, table in evaluation.items():
        mentions = entity_mentions(table)
        mentions["unseen"] = [(t, x) not in seen for t, x in zip(mentions["entity_type"], mentions["text"])]
        for etype, group in [("ALL", mentions), *((t, mentions[mentions["entity_type"] == t]) for t in entity_types)]:
            distinct = group.drop_duplicates(["entity_type", "text"])
            rows.append(
                {
                    "split": split,
                    "entity_type": etype,
                    "mentions": len(group),
                    "unseen_mentions": int(group["unseen"].sum()),
                    "unseen_mention_share": float(group["unseen"].mean()) if len(group) else 0.0,
                    "distinct_strings": len(distinct),
                    "unseen_distinct_share": float(distinct["unseen"].mean()) if len(distinct) else 0.0,
                }
            )
    return pd.DataFrame(rows)


# -- plots ------------------------------------------------------------------------------------------


def plot_tag_distribution(distribution: pd.DataFrame, tag_kind: str, top_n: int) -> plt.Figure:
    """Bar chart of the ``top_n`` most frequent tags of one kind, one bar group per split (shares,
    so splits compare)."""
    data = distribution[distribution["tag_kind"] == tag_kind]
    order = data.groupby("tag")["count"].sum().sort_values(ascending=False).index[:top_n]
    shares = data.pivot_table(index="tag", columns="split", values="share", fill_value=0)
    shares = shares.reindex(index=order, columns=data["split"].unique())
    figure, axis = plt.subplots(figsize=(max(6, 0.45 * len(order)), 4))
    shares.plot.bar(ax=axis, logy=True)  # log scale: O (or NN) would flatten every other bar
    axis.set(
        title=f"{tag_kind.upper()} tag distribution (top {len(order)})", xlabel="tag", ylabel="share of tokens (log)"
    )
    figure.tight_layout()
    return figure


def plot_entities_per_type(counts: pd.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(6, 4))
    table = counts.pivot(index="entity_type", columns="split", values="count")
    table.reindex(index=counts["entity_type"].unique(), columns=counts["split"].unique()).plot.bar(ax=axis)
    axis.set(title="Entities per type", xlabel="entity type", ylabel="mentions")
    figure.tight_layout()
    return figure


def plot_length_distribution(lengths: pd.DataFrame, title: str, max_length: int) -> plt.Figure:
    """Per-split histogram as shares, lengths above ``max_length`` folded into the last bin."""
    data = lengths.assign(length=lengths["length"].clip(upper=max_length))
    shares = data.groupby(["split", "length"])["count"].sum().unstack("split", fill_value=0)
    shares = shares / shares.sum()
    figure, axis = plt.subplots(figsize=(8, 4))
    for split in lengths["split"].unique():
        axis.plot(shares.index, shares[split], marker="o", markersize=3, label=split)
    axis.set(title=title, xlabel=f"length in tokens (last point: ≥ {max_length})", ylabel="share")
    axis.legend()
    figure.tight_layout()
    return figure
