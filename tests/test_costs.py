import pandas as pd
import pytest

from llm_ner.costs import CostModel, LabelledSet, cheapest_reaching, on_frontier
from llm_ner.settings import project_parameters

PARAMS = {
    "expert": {"usd_per_hour": 50, "tokens_per_hour": 2900},
    "crowd": {"usd_per_sentence": 0.012, "workers": 5},
    "llm_prices": {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.60}},
    "llm_batch_api": {"discount": 0.5},
    "local_compute": {"usd_per_hour": 2.0},
}


def test_each_labeller_costs_what_it_is_hand_computed_to_cost():
    model = CostModel.from_params(PARAMS)
    assert model.expert.usd(2900) == pytest.approx(50.0)  # one hour
    assert model.expert.usd(145) == pytest.approx(2.5)  # 145 / 2900 h x $50
    assert model.crowd.usd(1000) == pytest.approx(60.0)  # 1000 x $0.012 x 5 workers
    assert model.llm_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert model.llm_usd("qwen2.5-coder-0.5b-instruct", 1_000_000, 1_000_000) == 0.0  # local: not listed
    assert model.llm_usd(None, 10, 10) == 0.0


def test_a_labelled_set_adds_expert_llm_and_compute_dollars():
    labelled = LabelledSet(
        expert_sentences=20,
        expert_tokens=290,
        llm_model="gpt-4o-mini",
        llm_input_tokens=200_000,
        llm_output_tokens=10_000,
        llm_seconds=1800,
    )
    cost = CostModel.from_params(PARAMS).cost(labelled)
    assert cost.expert_usd == pytest.approx(5.0)  # 290 / 2900 h x $50
    assert cost.llm_usd == pytest.approx(0.036)  # 0.2 x 0.15 + 0.01 x 0.60
    assert cost.compute_usd == pytest.approx(1.0)  # half an hour at $2
    assert cost.total_usd == pytest.approx(6.036)
    more = labelled.plus_expert(10, 145)
    assert (more.expert_sentences, more.expert_tokens, more.llm_input_tokens) == (30, 435, 200_000)


def test_batch_replies_take_the_discount_off_llm_tokens_only():
    model = CostModel.from_params({**PARAMS, "llm_batch_api": {"discount": 0.4}})
    assert model.llm_usd("gpt-4o-mini", 1_000_000, 1_000_000, tier="batch") == pytest.approx(0.45)
    assert model.llm_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert model.expert.usd(2900) == pytest.approx(50.0)


def test_labels_bought_at_a_recorded_price_cost_that_price():
    labelled = LabelledSet(
        llm_model="gpt-4o-mini", llm_input_tokens=1_000_000, llm_output_tokens=1_000_000, llm_usd=0.375
    )
    assert CostModel.from_params(PARAMS).cost(labelled).llm_usd == pytest.approx(0.375)
    assert CostModel.from_params(PARAMS).cost(labelled.plus_expert(1, 10)).llm_usd == pytest.approx(0.375)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"expert": {"usd_per_hour": 50, "tokens_per_hour": 0}},
            r"cost_model\.expert\.tokens_per_hour: Input should be greater than 0",
        ),
        (
            {"expert": {"usd_per_hour": -1, "tokens_per_hour": 10}},
            r"cost_model\.expert\.usd_per_hour: Input should be greater than or equal to 0",
        ),
        (
            {"crowd": {"usd_per_sentence": 0.01, "workers": 0}},
            r"cost_model\.crowd\.workers: Input should be greater than 0",
        ),
        (
            {"llm_batch_api": {"discount": 1.5}},
            r"cost_model\.llm_batch_api\.discount: Input should be less than or equal to 1",
        ),
        ({"llm_prices": {"m": {"input": 1}}}, r"cost_model\.llm_prices\.m\.input: unknown parameter"),
        (
            {"llm_prices": {"m": {"batch_discount": 0.1}}},
            r"cost_model\.llm_prices\.m\.batch_discount: unknown parameter",
        ),
        ({"experts": {}}, r"cost_model\.experts: unknown parameter"),
    ],
)
def test_a_bad_cost_model_names_the_parameter(change, message):
    with pytest.raises(ValueError, match=message):
        CostModel.from_params({**PARAMS, **change})


@pytest.mark.parametrize("env", ["base", "test"])
def test_every_environment_has_a_valid_cost_model(env):
    conf = project_parameters(env)
    CostModel.from_params(conf["cost_model"])


def test_frontier_keeps_only_results_nothing_beats():
    results = pd.DataFrame(
        {"name": list("abcdef"), "total_usd": [1, 2, 2, 3, 10, 10], "f1_mean": [0.5, 0.4, 0.6, 0.6, 0.9, 0.8]}
    )
    frontier = results[on_frontier(results)]
    # b: c costs the same and is better; d: c is cheaper and as good; f: e costs the same and is better
    assert list(frontier["name"]) == ["a", "c", "e"]


def test_cheapest_result_reaching_a_target():
    results = pd.DataFrame({"name": list("abc"), "total_usd": [5, 2, 9], "f1_mean": [0.7, 0.6, 0.8]})
    assert cheapest_reaching(results, 0.55)["name"] == "b"
    assert cheapest_reaching(results, 0.65)["name"] == "a"
    assert cheapest_reaching(results, 0.95) is None


def test_the_batch_discount_applies_however_the_cost_model_is_built():
    """Kedro builds a typed group as ``CostModel(**cost_model)``; from_params is the other way in.
    Both price a batch reply at the batch API's discount, which no model sets for itself."""
    raw = {
        "expert": {"usd_per_hour": 50.0, "tokens_per_hour": 2900.0},
        "crowd": {"usd_per_sentence": 0.1, "workers": 5},
        "llm_prices": {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6}},
        "llm_batch_api": {"discount": 0.5},
    }
    for model in (CostModel(**raw), CostModel.from_params(raw)):
        price = model.llm_prices["gpt-4o-mini"]
        assert price.batch_discount == 0.5
        assert model.llm_usd("gpt-4o-mini", 1e6, 1e6, "batch") == pytest.approx(0.375)  # (0.15 + 0.6) / 2
