"""The label-quality map's core: the levels, the cells of every route, and the crossover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llm_ner.corpus import load_split
from llm_ner.grid import Grid
from llm_ner.label_quality import (
    REAL,
    LabelQualityParams,
    crossover,
    gold_candidates,
    map_cells,
    map_pool,
    profiled_labels,
    simulated_pools,
)
from llm_ner.llm.simulated import ErrorProfile
from llm_ner.metrics import micro_span_f1
from llm_ner.students import Protocol, StudentParams, StudentSetup
from llm_ner.tags import CONLL_2003, Span, bio_to_spans, spans_to_bio


def corrupted(tags: list[str], index: int) -> list[str]:
    """A crude real labeller: misses every third entity and calls LOC ORG."""
    spans = [
        Span(s.start, s.end, "ORG" if s.label == "LOC" else s.label)
        for i, s in enumerate(bio_to_spans(tags))
        if (index + i) % 3
    ]
    return spans_to_bio(spans, len(tags))


@pytest.fixture(scope="module")
def llm_labels() -> pd.DataFrame:
    train = load_split("train").iloc[:120]
    return pd.DataFrame(
        {
            "sentence_id": train["sentence_id"],
            "document_id": train["document_id"],
            "tokens": train["tokens"],
            "gold_tags": train["ner_tags"],
            "llm_tags": [corrupted(list(t), i) for i, t in enumerate(train["ner_tags"])],
        }
    )


def test_levels_reach_their_label_f1_and_the_real_level_keeps_the_real_labels(llm_labels):
    params = LabelQualityParams(levels=(0.6, 0.9), pool_size=100)
    pool = map_pool(llm_labels, params)
    levels = simulated_pools(pool, ErrorProfile.of_labels(llm_labels), params)
    assert list(levels.pools) == [REAL, "0.60", "0.90"] and len(pool) == 100
    assert levels.pools[REAL]["llm_tags"].tolist() == pool["llm_tags"].tolist()
    for level, target in (("0.60", 0.6), ("0.90", 0.9)):
        reached = micro_span_f1(list(pool["gold_tags"]), list(levels.pools[level]["llm_tags"]))
        assert abs(reached - target) < 0.03 and levels.label_f1(level) == pytest.approx(reached)


def test_the_profile_is_measured_outside_the_pool_where_there_is_an_outside(llm_labels):
    pool = map_pool(llm_labels, LabelQualityParams(pool_size=100))
    profiled = profiled_labels(llm_labels, pool)
    assert len(profiled) == 20 and not set(profiled["sentence_id"]) & set(pool["sentence_id"])
    everything = map_pool(llm_labels, LabelQualityParams())
    assert len(profiled_labels(llm_labels, everything)) == 120


def test_every_route_gets_its_cells_with_the_gold_it_consumes(llm_labels):
    params = LabelQualityParams(levels=(0.8,), budgets=(0.1, 0.2), seeds=(1, 2, 3), gold_sentences=15, pool_size=60)
    pool = map_pool(llm_labels, params)
    levels = simulated_pools(pool, ErrorProfile.of_labels(llm_labels), params)
    levels.pools[REAL] = levels.pools[REAL].assign(label_quality=np.linspace(0, 1, 60))  # what label_issues ranks
    levels.pools["0.80"] = levels.pools["0.80"].assign(label_quality=np.linspace(1, 0, 60))
    gold = gold_candidates(load_split("train").iloc[:300], llm_labels, params)
    assert not set(gold["sentence_id"]) & set(llm_labels["sentence_id"]) and len(gold) == 15
    setup = StudentSetup(Protocol.of(StudentParams(), CONLL_2003), {"validation": [], "test": []}, Grid(), CONLL_2003)
    cells = map_cells(levels, gold, params, setup)
    ids = pd.DataFrame([cell.ids for cell in cells])
    counts = ids.groupby(["level", "route", "gold_sentences"]).size().to_dict()
    for level in (REAL, "0.80"):
        assert counts[(level, "llm_only", 0)] == 3
        assert counts[(level, "regimen_D", 15)] == counts[(level, "blending_sigmoid_k4", 15)] == 3
        for strategy in ("random", "label_issues"):
            assert counts[(level, f"correct_{strategy}", 6)] == counts[(level, f"correct_{strategy}", 12)] == 3
    assert {key: n for key, n in counts.items() if key[1] == "all_expert"} == {
        ("gold", "all_expert", 6): 3,
        ("gold", "all_expert", 12): 3,
        ("gold", "all_expert", 15): 3,
    }
    # each cell trains on the gold it says it consumed
    for cell in cells:
        used = sum(1 for phase in cell.job.phases if isinstance(phase, list) for s in phase if s.source == "gold")
        if cell.ids["route"].startswith(("correct", "all_expert", "regimen")):
            assert used == cell.ids["gold_sentences"], cell.ids
    # all-expert with regimen D's gold count trains on regimen D's very gold; with a budget's, on pool sentences
    gold_sentences, pool_sentences = {tuple(t) for t in gold["tokens"]}, {tuple(t) for t in pool["tokens"]}
    for cell in cells:
        if cell.ids["route"] == "all_expert":
            trained = {tuple(s.tokens) for s in cell.job.phases[0]}
            assert trained == gold_sentences if cell.ids["gold_sentences"] == 15 else trained <= pool_sentences, (
                cell.ids
            )
    simulated = ids[ids["route"] != "all_expert"]
    assert simulated["label_f1"].isin([round(levels.label_f1(level), 4) for level in levels.pools]).all()
    assert (ids.loc[ids["route"] == "all_expert", "label_f1"] == 1.0).all()  # gold labels: label F1 1
    assert all(list(cell.job.evaluation_sets) == ["test"] for cell in cells)  # the map reads test only


def summary_of(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["level", "label_f1", "route", "gold_sentences", "expert_usd", "f1_mean"])


def test_the_crossover_is_the_lowest_label_f1_from_which_every_level_above_wins():
    summary = summary_of(
        [
            ("gold", np.nan, "all_expert", 10, 2.0, 0.60),
            ("gold", np.nan, "all_expert", 100, 20.0, 0.80),
            ("0.40", 0.40, "llm_only", 0, 0.0, 0.45),
            ("0.40", 0.40, "correct_random", 10, 2.0, 0.55),
            ("0.60", 0.60, "llm_only", 0, 0.0, 0.62),
            ("0.60", 0.60, "regimen_D", 100, 20.0, 0.78),
            ("0.80", 0.80, "llm_only", 0, 0.0, 0.58),
            ("0.80", 0.80, "correct_random", 10, 2.0, 0.66),  # noisy: still wins at 10
            ("0.80", 0.80, "regimen_D", 100, 20.0, 0.85),
            ("0.95", 0.95, "llm_only", 0, 0.0, 0.75),
            ("0.95", 0.95, "regimen_D", 100, 20.0, 0.79),
        ]
    )
    table = crossover(summary).set_index("gold_sentences")
    assert table.at[10, "crossover_label_f1"] == 0.60  # 0.62, 0.66, 0.75 > 0.60; 0.55 at 0.40 is not
    assert table.at[10, "best_route_at_top"] == "llm_only" and table.at[10, "expert_usd"] == 2.0
    # at 100 gold: 0.80 wins (0.85) but 0.95 does not (0.79 < 0.80): no level from which all above win
    assert np.isnan(table.at[100, "crossover_label_f1"])


def test_the_crossover_compares_equal_dollars_not_equal_sentence_counts():
    """Ten long sentences cost more than ten short ones: an LLM route whose expert re-labelled
    longer sentences than all-expert's does not count against that all-expert budget."""
    summary = summary_of(
        [
            ("gold", np.nan, "all_expert", 10, 2.0, 0.60),
            ("0.80", 0.80, "llm_only", 0, 0.0, 0.50),
            ("0.80", 0.80, "correct_label_issues", 10, 2.6, 0.70),
        ]
    )
    row = crossover(summary).iloc[0]
    assert np.isnan(row["crossover_label_f1"]) and row["best_route_at_top"] == "llm_only"


def test_bad_map_parameters_name_the_parameter():
    from llm_ner.typed import parse

    with pytest.raises(ValueError, match="label_quality.strategies.0: Input should be 'random' or 'label_issues'"):
        parse(LabelQualityParams, {"strategies": ["llm_low_confidence"]}, "label_quality")
    with pytest.raises(ValueError, match="label_quality.levels.0: Input should be less than or equal to 1"):
        parse(LabelQualityParams, {"levels": [1.5]}, "label_quality")
