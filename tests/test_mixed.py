"""Mixed annotation core: who the expert labels, the training set that results, label quality, saturation."""

import pandas as pd
import pytest

from llm_ner.corpus import load_split
from llm_ner.mixed import (
    SweepSettings,
    budget_sweep_cells,
    check_sweep,
    expert_count,
    label_issues,
    llm_low_confidence,
    mixed_training_table,
    out_of_fold_label_quality,
    random_selection,
    saturation_budget,
)
from llm_ner.model import TaggerConfig, TrainingConfig
from llm_ner.students import Protocol

POOL = pd.DataFrame(
    {
        "sentence_id": [1, 2, 3, 4, 5],
        "tokens": [["A"], ["B"], ["C"], ["D"], ["E"]],
        "gold_tags": [["B-PER"]] * 5,
        "llm_tags": [["O"]] * 5,
        "sentence_confidence": [0.9, 0.1, 0.5, 0.1, 0.7],
        "label_quality": [0.2, 0.9, 0.1, 0.8, 0.5],
    }
)


def test_who_the_expert_labels():
    assert random_selection(POOL, 2, seed=1).equals(random_selection(POOL, 2, seed=1))
    assert set(llm_low_confidence(POOL, 2, seed=0)["sentence_id"]) == {2, 4}  # the two least confident
    assert set(label_issues(POOL, 2, seed=0)["sentence_id"]) == {3, 1}  # the two least plausible labels
    assert expert_count(0.12, 2037) == 244 and expert_count(0.0, 10) == 0
    with pytest.raises(ValueError, match="budgets are shares"):
        expert_count(12, 100)
    with pytest.raises(ValueError, match="use mode 'correct'"):
        check_sweep("add", ["random", "llm_low_confidence"], "from_scratch")
    with pytest.raises(ValueError, match="strategies must be among"):
        check_sweep("correct", ["oracle"], "from_scratch")
    with pytest.raises(ValueError, match="sentence_confidence"):
        llm_low_confidence(POOL.assign(sentence_confidence=float("nan")), 2, seed=0)


def _gold_ids(cell, pool) -> set[int]:
    """Which pool or outside sentences a sweep cell's student reads with gold tags."""
    by_tokens = {tuple(t): i for i, t in zip(pool["sentence_id"], pool["tokens"])}
    return {by_tokens[tuple(s.tokens)] for s in cell.job.phases[0] if s.source == "gold"}


def test_folds_draw_from_own_parts_when_adding_and_from_the_whole_pool_when_correcting():
    """S0's k = 5 at a 20 % budget: parts of the pool would leave each fold nothing to choose, so a
    correcting fold chooses from the whole pool (its own seed); adding folds keep disjoint parts."""
    ids = list(range(1, 21))
    pool = pd.DataFrame(
        {
            "sentence_id": ids,
            "tokens": [[f"w{i}"] for i in ids],
            "gold_tags": [["B-PER"]] * 20,
            "llm_tags": [["O"]] * 20,
            "label_quality": [i / 20 for i in ids],  # sentences 1-4 look worst
        }
    )
    outside = pool.assign(sentence_id=[100 + i for i in ids], tokens=[[f"x{i}"] for i in ids])[
        ["sentence_id", "tokens", "gold_tags"]
    ]
    protocol = Protocol(TaggerConfig(), TrainingConfig())

    def chosen(mode, strategy):
        settings = SweepSettings(mode, (0.2,), (strategy,), k=5, seed=3, start="from_scratch")
        return [
            _gold_ids(c, outside if mode == "add" else pool)
            for c in budget_sweep_cells(pool, outside, {}, settings, protocol)
        ]

    added = chosen("add", "random")
    assert [len(c) for c in added] == [4] * 5 and len(set().union(*added)) == 20  # disjoint, one part each
    issues = chosen("correct", "label_issues")
    assert issues == [{1, 2, 3, 4}] * 5  # the whole pool's worst, in every fold
    randoms = chosen("correct", "random")
    assert all(len(c) == 4 for c in randoms) and len({frozenset(c) for c in randoms}) > 1  # seeded per fold
    assert any(c != {1, 2, 3, 4} for c in randoms)


def test_training_set_by_mode():
    expert = POOL[POOL["sentence_id"].isin([2, 4])]
    corrected = mixed_training_table(POOL, expert, "correct")
    assert len(corrected) == 5 and corrected.set_index("sentence_id").loc[[2, 4], "source"].tolist() == ["gold", "gold"]
    assert corrected.set_index("sentence_id").at[2, "ner_tags"] == ["B-PER"]
    assert corrected.set_index("sentence_id").at[1, "ner_tags"] == ["O"]
    outside = pd.DataFrame({"sentence_id": [90], "tokens": [["Z"]], "gold_tags": [["B-LOC"]]})
    added = mixed_training_table(POOL, outside, "add")
    assert len(added) == 6 and added["source"].value_counts().to_dict() == {"llm": 5, "gold": 1}


def test_llm_tags_weigh_what_llm_weight_says():
    expert = POOL[POOL["sentence_id"].isin([2])]
    halved = mixed_training_table(POOL, expert, "correct", llm_weight=0.5).set_index("sentence_id")["weight"]
    assert halved.to_dict() == {1: 0.5, 2: 1.0, 3: 0.5, 4: 0.5, 5: 0.5}
    by_confidence = mixed_training_table(POOL, expert, "correct", llm_weight="confidence")
    assert by_confidence.set_index("sentence_id")["weight"].to_dict() == {1: 0.9, 2: 1.0, 3: 0.5, 4: 0.1, 5: 0.7}
    with pytest.raises(ValueError, match="needs a sentence_confidence"):
        mixed_training_table(POOL.drop(columns="sentence_confidence"), expert, "correct", llm_weight="confidence")
    with pytest.raises(ValueError, match="llm_weight must be a number >= 0 or 'confidence'"):
        mixed_training_table(POOL, expert, "correct", llm_weight=-1)


def test_saturation_is_the_smallest_budget_close_to_the_best():
    summary = pd.DataFrame(
        {
            "strategy": "random",
            "split": "validation",
            "entity_type": "micro",
            "budget": [0.01, 0.05, 0.12, 0.2],
            "f1_mean": [0.4, 0.6, 0.645, 0.65],
        }
    )
    assert saturation_budget(summary, "random", delta=0.01) == 0.12
    assert saturation_budget(summary, "random", delta=0.1) == 0.05


def test_out_of_fold_label_quality_reads_no_gold():
    train = load_split("train").iloc[:12]
    pool = pd.DataFrame({"sentence_id": train["sentence_id"], "tokens": train["tokens"], "llm_tags": train["ner_tags"]})
    tagger = TaggerConfig(
        encoder_weights="random",
        lstm_hidden_size=8,
        max_subwords=64,
        encoder_overrides={
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
        },
    )
    protocol = Protocol(tagger, TrainingConfig(epochs=1, batch_size=4, device="cpu", progress_bar=False))
    quality = out_of_fold_label_quality(pool, 2, seed=0, protocol=protocol)
    assert sorted(quality.index) == sorted(pool["sentence_id"]) and quality.between(0, 1).all()


def test_regimen_extra_data_split_from_the_pool_or_imported(tmp_path):
    from llm_ner.conll import write_conll
    from llm_ner.llm.external import import_conll_labels
    from llm_ner.parameters import ExtraParams
    from llm_ner.pipelines.mixed_annotation.nodes import regimen_sets
    from llm_ner.tags import CONLL_2003
    from llm_ner.typed import parse

    train = load_split("train").iloc[:30]
    pool = train.iloc[:10].rename(columns={"ner_tags": "gold_tags"}).assign(llm_tags=lambda t: t["gold_tags"])
    expert = train.iloc[10:14].rename(columns={"ner_tags": "gold_tags"})
    split = regimen_sets(pool, expert, None, ExtraParams(source="split", share=0.3), 1)
    assert (len(split["llm"]), len(split["extra"]), len(split["gold"])) == (7, 3, 4)
    assert {s.source for s in split["extra"]} == {"llm"} and {s.source for s in split["gold"]} == {"gold"}
    # an imported file covering pool, expert set and 16 other sentences: only the 16 are extra
    write_conll(train, tmp_path / "other_llm.conll")
    labels, _ = import_conll_labels(tmp_path / "other_llm.conll", train, CONLL_2003)
    imported = regimen_sets(
        pool, expert, labels, ExtraParams(source="import", share=0.5, path=str(tmp_path / "other_llm.conll")), 1
    )
    assert (len(imported["llm"]), len(imported["extra"])) == (10, 16)
    with pytest.raises(
        ValueError, match=r"mixed_annotation.regimens.extra.source: Input should be 'split' or 'import'"
    ):
        parse(ExtraParams, {"source": "crowd", "share": 0.5}, "mixed_annotation.regimens.extra")
    with pytest.raises(ValueError, match=r"source 'import' needs path"):
        parse(ExtraParams, {"source": "import", "share": 0.5}, "mixed_annotation.regimens.extra")
