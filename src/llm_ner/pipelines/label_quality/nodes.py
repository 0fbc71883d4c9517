"""Thin nodes over :mod:`llm_ner.label_quality`: the real labeller's error profile, the pool at
every level, the map's students, and the map with its crossover."""

from __future__ import annotations

import pandas as pd

from llm_ner.costs import CostModel
from llm_ner.label_quality import (
    LabelQualityParams,
    Levels,
    crossover,
    gold_candidates,
    map_pool,
    profiled_labels,
    simulated_pools,
    summarise_map,
)
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.simulated import ErrorProfile
from llm_ner.parameters import EntityTypes


def measure_labeller(
    llm_labels: pd.DataFrame, train_sentences: pd.DataFrame, params: LabelQualityParams, entity_types: EntityTypes
) -> tuple[dict, pd.DataFrame]:
    """The real labeller's error profile (of ``profile_from``'s labels, else of the run's
    ``llm_labels``; those of sentences outside the map's pool) as JSON, and its summary table."""
    real = llm_labels
    if params.profile_from:
        real, _ = import_conll_labels(params.profile_from, train_sentences, entity_types.schema)
    profile = ErrorProfile.of_labels(profiled_labels(real, map_pool(llm_labels, params)))
    return profile.to_dict(), profile.summary()


def simulate_levels(llm_labels: pd.DataFrame, profile: dict, params: LabelQualityParams) -> tuple[Levels, pd.DataFrame]:
    """The pool labelled at every level (and as the real labeller left it), and what each level reached."""
    levels = simulated_pools(map_pool(llm_labels, params), ErrorProfile.from_dict(profile), params)
    return levels, levels.table


def draw_gold_sentences(
    train_sentences: pd.DataFrame, llm_labels: pd.DataFrame, params: LabelQualityParams
) -> pd.DataFrame:
    """The gold sentences regimen D and blending add, from outside every LLM-labelled sentence."""
    return gold_candidates(train_sentences, llm_labels, params)


def summarise_label_quality(runs: pd.DataFrame, cost_model: CostModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The map (test micro F1 mean ± std per level x route x gold budget, expert dollars) and its crossover."""
    summary = summarise_map(runs, cost_model.expert.usd(1.0))
    return summary, crossover(summary)
