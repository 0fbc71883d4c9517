"""Costed results per labelling route, checked against sums done by hand."""

import pandas as pd
import pytest

from llm_ner.costs import CostModel
from llm_ner.report import routes

# $50/h at 100 tokens/h = $0.50 per expert token; gpt-4o-mini at $1 / $2 per 1M tokens
COSTS = CostModel.from_params(
    {
        "expert": {"usd_per_hour": 50, "tokens_per_hour": 100},
        "crowd": {"usd_per_sentence": 0.01, "workers": 3},
        "llm_prices": {"gpt-4o-mini": {"input_per_million": 1.0, "output_per_million": 2.0}},
    }
)
SPEND = {
    "labelling": {
        "model": "mini",
        "strategy": "knn_few_shot",
        "source": "annotate",
        "sentences": 40,
        "input_tokens": 1_000_000,
        "output_tokens": 500_000,
    }
}
GOLD_USAGE = pd.DataFrame(
    {
        "consumer": ["llm_labeller"] * 2,
        "purpose": ["demonstrations", "evaluation"],
        "what": ["pool", "sample"],
        "sentences": [4, 8],
        "tokens": [40, 80],
        "entities": [5, 9],
    }
)
MODELS = {"mini": {"backend": "openai", "model": "gpt-4o-mini"}}


def micro(f1, **columns):
    return {"split": "test", "entity_type": "micro", "f1": f1, **columns}


@pytest.fixture
def llm():
    return routes.llm_labelled_set(SPEND, GOLD_USAGE, None, MODELS)


def test_llm_labels_charge_their_calls_and_the_labellers_gold_not_its_evaluation(llm):
    assert (llm["expert_sentences"], llm["expert_tokens"], llm["llm_model"]) == (4, 40, "gpt-4o-mini")
    references = pd.DataFrame([micro(0.5, student="llm_only"), micro(0.8, student="gold_only")])
    row = routes.llm_only_rows(references, llm, COSTS).iloc[0]
    # 40 demonstration tokens x $0.50 + 1M x $1 + 0.5M x $2 per 1M
    assert (row["expert_usd"], row["llm_usd"], row["total_usd"]) == pytest.approx((20.0, 2.0, 22.0))
    assert row["f1_per_usd"] == pytest.approx(0.5 / 22)


def test_budget_and_active_learning_rows_add_the_expert_labels_to_the_llm_labels(llm):
    table = pd.DataFrame(
        [
            {
                "mode": "correct",
                "strategy": "random",
                "budget": 0.1,
                "expert_sentences": 4.0,
                "expert_tokens": 50.0,
                "f1_mean": 0.6,
                "f1_std": 0.1,
                "folds": 3,
                "split": "test",
                "entity_type": "micro",
            }
        ]
    )
    row = routes.budget_rows({"correct": table, "add": None}, llm, 14.5, COSTS).iloc[0]
    assert row["route"] == "expert budget (correct, random)" and row["runs"] == 3
    assert (row["expert_sentences"], row["expert_tokens"]) == (8, 90)
    assert row["total_usd"] == pytest.approx(90 * 0.5 + 2.0)

    history = pd.DataFrame(
        {
            "strategy": ["random"] * 4,
            "seed": [1, 1, 2, 2],
            "iteration": [0, 1, 0, 1],
            "added": [0, 2, 0, 2],
            "added_tokens": [0, 20, 0, 30],
            "stopping_gold_sentences": 0,
            "test_f1": [0.4, 0.5, 0.4, 0.7],
        }
    )
    init_set = pd.DataFrame({"source": ["gold", "llm", "llm"], "tokens": [["a"] * 10, ["b"] * 7, ["c"] * 7]})
    rows = routes.active_learning_rows(history, init_set, llm, 14.5, COSTS)
    last = rows.iloc[-1]
    # labeller gold 40 + model_init gold 10 + mean added tokens (20 + 30) / 2 = 75 tokens
    assert last["expert_tokens"] == 75 and last["expert_sentences"] == 4 + 1 + 2
    assert last["total_usd"] == pytest.approx(75 * 0.5 + 2.0)
    assert (last["f1_mean"], last["runs"]) == (pytest.approx(0.6), 2)
    assert last["f1_std"] == pytest.approx(pd.Series([0.5, 0.7]).std())


def test_cost_to_target_finds_each_routes_cheapest_result_and_the_ratio_to_all_expert():
    results = routes.with_frontier(
        [
            pd.DataFrame(
                [
                    {
                        "route": "all-expert",
                        "result": "100",
                        "expert_sentences": 100,
                        "total_usd": 100.0,
                        "f1_mean": 0.80,
                    },
                    {"route": "all-expert", "result": "30", "expert_sentences": 30, "total_usd": 30.0, "f1_mean": 0.70},
                    {"route": "LLM-only", "result": "llm", "expert_sentences": 4, "total_usd": 5.0, "f1_mean": 0.50},
                    {
                        "route": "expert budget (add, random)",
                        "result": "10%",
                        "expert_sentences": 14,
                        "total_usd": 20.0,
                        "f1_mean": 0.76,
                    },
                ]
            )
        ]
    )
    assert results["on_frontier"].tolist() == [True, True, False, True]  # sorted by dollars: 5, 20, 30, 100
    targets = routes.cost_to_target(results, reference_f1=0.8, shares=[0.9]).set_index("route")
    assert targets.loc["all-expert", "total_usd"] == 100.0  # 0.72 needs the 100-sentence set
    assert targets.loc["expert budget (add, random)", "ratio_to_all_expert"] == pytest.approx(0.2)
    assert pd.isna(targets.loc["LLM-only", "total_usd"])  # 0.50 never reaches 0.72


def test_labeller_costs_per_thousand_sentences():
    markup = pd.DataFrame(
        [
            {
                "strategy": "span_json",
                "model": "mini",
                "sentences": 10,
                "f1": 0.4,
                "input_tokens": 10_000,
                "output_tokens": 1_000,
                "seconds_per_sentence": 2.0,
            }
        ]
    )
    table = routes.labeller_costs(markup, MODELS, COSTS, tokens_per_sentence=10).set_index("labeller")
    assert table.loc["expert", "usd"] == pytest.approx(1000 * 10 * 0.5)
    assert table.loc["crowd (3 workers)", "usd"] == pytest.approx(1000 * 0.01 * 3)
    # x100 to 1,000 sentences: 1M input x $1 + 0.1M output x $2 per 1M
    assert table.loc["span_json x mini", "usd"] == pytest.approx(1.2)
    assert table.loc["span_json x mini", "usd_as_gpt-4o-mini"] == pytest.approx(1.2)


def test_stages_that_have_not_run_give_no_rows():
    assert routes.llm_labelled_set(None, None, None, MODELS) is None
    assert routes.expert_rows(None, None, None, 14.5, COSTS).empty
    assert routes.budget_rows({"add": None}, None, 14.5, COSTS).empty
    assert routes.active_learning_rows(None, None, None, 14.5, COSTS).empty
    assert routes.with_frontier([routes.expert_rows(None, None, None, 14.5, COSTS)]).empty


def test_one_spend_table_names_every_llm_stage_and_sums_them():
    from llm_ner.report.sections import spend_table

    money = {
        "api_calls": 2,
        "batch_calls": 0,
        "cache_hits": 1,
        "input_tokens": 100,
        "output_tokens": 10,
        "label_cost_usd": 0.5,
        "spend_usd": 0.25,
    }
    table = spend_table(
        {"evaluation": money, "labelling": {**money, "stage": "labelling", "source": "annotate"}},
        {**money, "stage": "topics"},
        {"second_spend": {**money, "stage": "topics"}},
    )
    assert table["stage"].tolist() == [
        "NER: markup evaluation",
        "NER: labelling (annotate)",
        "topics (S2)",
        "topics: agreement check",
        "total",
    ]
    assert table.iloc[-1]["label_cost_usd"] == pytest.approx(2.0) and table.iloc[-1]["api_calls"] == 8
    assert spend_table(None, None, None).empty


def test_the_learning_curve_is_charged_its_exact_gold_tokens():
    curve = pd.DataFrame([{**micro(0.0), "size": 10, "f1_mean": 0.6, "f1_std": 0.01, "runs": 3, "gold_tokens": 131.0}])
    row = routes.expert_rows(curve, None, None, 14.5, COSTS).iloc[0]
    assert (row["expert_tokens"], row["expert_usd"], row["tokens_estimated"]) == (131.0, 65.5, False)
    older = routes.expert_rows(curve.drop(columns="gold_tokens"), None, None, 14.5, COSTS).iloc[0]
    assert (older["expert_tokens"], older["tokens_estimated"]) == (145.0, True)  # 10 sentences x 14.5


def test_a_regimen_reading_the_whole_expert_set_is_charged_its_exact_tokens(llm):
    expert_set = pd.DataFrame({"tokens": [["a"] * 10, ["b"] * 20, ["c"] * 3, ["d"] * 7]})  # 40 tokens, 10 a sentence
    table = pd.DataFrame(
        [
            {
                **micro(0.0),
                "design": design,
                "lr_schedule": "constant",
                "llm_sentences": llm_sentences,
                "gold_sentences": gold,
                "f1_mean": 0.7,
                "f1_std": 0.01,
                "seeds": 3,
            }
            for design, llm_sentences, gold in (("A_gold", 0, 4), ("D_llm_then_gold", 40, 4), ("simple_mix", 40, 2))
        ]
    )
    rows = routes.regimen_rows({"regimens": table}, expert_set, llm, COSTS).set_index("result")
    assert rows.loc["regimens: A_gold (constant)", ["route", "expert_tokens", "tokens_estimated"]].tolist() == [
        routes.ALL_EXPERT,
        40,
        False,
    ]
    assert rows.loc["regimens: D_llm_then_gold (constant)", ["expert_tokens", "tokens_estimated"]].tolist() == [
        40 + 40,
        False,
    ]  # + the labeller's 40 demonstration tokens
    assert rows.loc["regimens: simple_mix (constant)", ["expert_tokens", "tokens_estimated"]].tolist() == [
        40 + 2 * 10,
        True,
    ]


def test_label_studio_corrections_are_priced_by_measured_time_and_the_simulated_twin_by_assumed_speed(llm):
    # 3 corrected sentences (30 tokens) that took 720 s in all, one of them (10 tokens) without a recorded time
    table = pd.DataFrame(
        [
            {
                "split": "test",
                "entity_type": "micro",
                "expert_source": source,
                "f1_mean": f1,
                "f1_std": 0.01,
                "seeds": 3,
                "expert_sentences": 3,
                "expert_tokens": 30,
                **timed,
            }
            for source, f1, timed in (
                ("label_studio", 0.6, {"expert_seconds": 720.0, "untimed_tokens": 10}),
                ("simulated", 0.62, {"expert_seconds": float("nan"), "untimed_tokens": float("nan")}),
            )
        ]
    )
    rows = routes.annotated_rows(table, llm, COSTS).set_index("route")
    # the labeller's 40 demonstration tokens and 10 untimed tokens at $0.50, 720 s at $50/h ($10), LLM $2
    measured = rows.loc["expert in Label Studio (label_studio)"]
    assert (measured["expert_usd"], measured["total_usd"]) == pytest.approx((25.0 + 10.0, 37.0))
    simulated = rows.loc["expert in Label Studio (simulated)"]  # 40 + 30 tokens at $0.50
    assert (simulated["expert_usd"], simulated["runs"]) == (pytest.approx(35.0), 3)
    assert routes.annotated_rows(pd.DataFrame(), llm, COSTS).empty


def test_a_report_on_simulated_labels_says_so_first_and_in_the_markup_section():
    from llm_ner.llm.settings import AnnotationSettings
    from llm_ner.report.sections import markup_section
    from llm_ner.report.summary import summary_lines

    costs = pd.DataFrame(
        [
            {
                "route": "LLM-only",
                "result": "simulated@0.75",
                "f1_mean": 0.7,
                "f1_std": 0.0,
                "runs": 1,
                "total_usd": 0.0,
                "expert_sentences": 0,
            }
        ]
    )
    spend = {
        "labelling": {
            "source": "simulated",
            "label_f1": 0.7503,
            "target_label_f1": 0.75,
            "scale": 0.4,
            "profile_from": "seed.conll",
            "profile_label_f1": 0.456,
            "sentences": 300,
        }
    }
    lines = summary_lines(costs, pd.DataFrame(columns=["target_share"]), None, spend)
    assert lines[0].startswith("SIMULATED LLM labels (label F1 0.7503") and "what-if" in lines[0]
    assert not summary_lines(costs, pd.DataFrame(columns=["target_share"]), None, SPEND)[0].startswith("SIMULATED")
    section = markup_section(None, spend, pd.DataFrame(), AnnotationSettings(cache_path="c"))
    assert any("SIMULATED" in block.content for block in section.blocks)
