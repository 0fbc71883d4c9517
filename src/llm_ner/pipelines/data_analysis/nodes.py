"""Nodes of the data_analysis pipeline: thin wrappers around :mod:`llm_ner.analysis`."""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import pandas as pd

from llm_ner import analysis
from llm_ner.conll import check_entity_types
from llm_ner.parameters import CorpusParams, EntityTypes, PlotParams
from llm_ner.tags import repair_bio

logger = logging.getLogger(__name__)


def prepare_sentence_table(
    raw: pd.DataFrame, corpus: CorpusParams, entity_types: EntityTypes, split: str
) -> pd.DataFrame:
    """Check a freshly read split and keep it as the project's sentence table.

    The reader already validated the IOB shape and converted IOB1; here every tag must belong to
    the run's ``entity_types`` (else an error naming file and line), and we re-check the invariants
    every later pipeline relies on, so a custom dataset cannot slip past.
    ``corpus.max_sentences_per_split`` keeps the first N sentences (quick trials and ``conf/test``);
    null keeps the whole split.
    """
    schema = entity_types.schema
    if corpus.max_sentences_per_split is not None:
        raw = raw.head(corpus.max_sentences_per_split)
    check_entity_types(raw, schema)
    for row in raw.itertuples(index=False):
        lengths = {len(row.tokens), len(row.ner_tags)}
        if row.pos_tags is not None:
            lengths |= {len(row.pos_tags), len(row.chunk_tags)}
        if len(lengths) != 1:
            raise ValueError(
                f"{split} sentence {row.sentence_id}: token and tag lists differ in length {sorted(lengths)}"
            )
        if repair_bio(row.ner_tags, schema)[1].changed:
            raise ValueError(f"{split} sentence {row.sentence_id}: tags are not valid IOB2: {row.ner_tags}")
    logger.info(
        "%s: %d sentences, %d tokens, %d documents",
        split,
        len(raw),
        int(raw["tokens"].map(len).sum()),
        raw["document_id"].nunique(),
    )
    return raw.drop(columns=["first_line"], errors="ignore").reset_index(drop=True)


def _by_split(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"train": train, "valid": valid, "test": test}


def summarise_splits(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    summary = analysis.split_summary(_by_split(train, valid, test))
    logger.info("Corpus summary:\n%s", summary.to_string(index=False))
    return summary


def count_tags(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    return analysis.tag_distribution(_by_split(train, valid, test))


def count_entities_per_type(
    train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame, entity_types: EntityTypes
) -> pd.DataFrame:
    return analysis.entities_per_type(_by_split(train, valid, test), entity_types.schema.names)


def measure_lengths(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = _by_split(train, valid, test)
    return analysis.length_distribution(tables, "sentence"), analysis.length_distribution(tables, "entity")


def measure_unseen_entities(
    train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame, entity_types: EntityTypes
) -> pd.DataFrame:
    unseen = analysis.unseen_entities(train, {"valid": valid, "test": test}, entity_types.schema.names)
    overall = unseen[unseen["entity_type"] == "ALL"]
    for row in overall.itertuples():
        logger.info("%s: %.1f%% of entity mentions unseen in train", row.split, 100 * row.unseen_mention_share)
    return unseen


def plot_tag_distributions(distribution: pd.DataFrame, plot_params: PlotParams) -> dict[str, plt.Figure]:
    """One figure per tag kind, keyed by file name (MatplotlibDataset writes a folder)."""
    top_n = plot_params.top_n_tags
    return {
        f"{kind}_tags.png": analysis.plot_tag_distribution(distribution, kind, top_n)
        for kind in distribution["tag_kind"].unique()
    }


def plot_entities_per_type(counts: pd.DataFrame) -> plt.Figure:
    return analysis.plot_entities_per_type(counts)


def plot_lengths(
    sentence_lengths: pd.DataFrame, entity_lengths: pd.DataFrame, plot_params: PlotParams
) -> dict[str, plt.Figure]:
    return {
        "sentence_lengths.png": analysis.plot_length_distribution(
            sentence_lengths, "Sentence length", plot_params.max_sentence_length
        ),
        "entity_lengths.png": analysis.plot_length_distribution(
            entity_lengths, "Entity length", plot_params.max_entity_length
        ),
    }
