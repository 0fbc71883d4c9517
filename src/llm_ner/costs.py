"""What labels cost: the cost model (expert, crowd, LLM tokens, local compute) and the dollars of a
labelled set, plus the two questions asked of costed results -- which are on the F1-vs-$ Pareto
frontier, and what is the cheapest way to reach a target F1.

The prices themselves live in ``conf/base/parameters.yml`` (``cost_model``), each with its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, NamedTuple

import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from .llm.costs import Price
from .llm.settings import price_table
from .typed import parse, settings


@settings
class ExpertRate:
    """An expert annotator paid by the hour, labelling at a steady speed in tokens per hour."""

    usd_per_hour: NonNegativeFloat
    tokens_per_hour: PositiveFloat

    def usd(self, tokens: float) -> float:
        """Tokens typed at the assumed speed."""
        return tokens / self.tokens_per_hour * self.usd_per_hour

    def usd_for_time(self, seconds: float) -> float:
        """Time annotators were measured to take (Label Studio's ``lead_time``)."""
        return seconds / 3600 * self.usd_per_hour


@settings
class CrowdRate:
    """Crowd workers paid per unit (one sentence), several workers per unit for a majority vote."""

    usd_per_sentence: NonNegativeFloat
    workers: PositiveInt

    def usd(self, sentences: float) -> float:
        return sentences * self.usd_per_sentence * self.workers


@settings
class BatchAPI:
    """The share a batch API takes off the list price (OpenAI's Batch API: 0.5). Replies bought
    through a batch job (``llm_annotation.mode: batch``) are priced with it, everywhere."""

    discount: Annotated[float, Field(ge=0, le=1)] = 0.5


@settings
class LocalCompute:
    """The machine that runs a local LLM, per hour of labelling; 0 = not charged."""

    usd_per_hour: NonNegativeFloat = 0.0


class LabelCost(NamedTuple):
    expert_usd: float
    llm_usd: float
    compute_usd: float

    @property
    def total_usd(self) -> float:
        return self.expert_usd + self.llm_usd + self.compute_usd


@dataclass(frozen=True)
class LabelledSet:
    """Who labelled what for one result: gold tokens typed by experts (every charged purpose:
    training, demonstrations, model selection, expert budget) and the LLM calls behind its LLM labels.

    Expert work is priced by the assumed speed (``expert_tokens``), or -- for sentences people
    labelled in Label Studio -- by the time they were measured to take (``expert_seconds``); a
    result can have both (the labeller's demonstrations at the assumed speed, corrections timed)."""

    expert_sentences: float = 0
    expert_tokens: float = 0  # priced at cost_model.expert.tokens_per_hour
    expert_seconds: float = 0.0  # measured annotation time, priced at cost_model.expert.usd_per_hour
    llm_model: str | None = None  # the API model name prices are listed under; None = no LLM labels
    llm_input_tokens: float = 0
    llm_output_tokens: float = 0
    llm_seconds: float = 0.0  # wall time of the LLM labelling, for a local model's compute cost
    # what the LLM labels cost as bought (llm_annotation's label_cost_usd: batch replies at the batch
    # price); None: the tokens priced at list price
    llm_usd: float | None = None

    def plus_expert(self, sentences: float, tokens: float) -> LabelledSet:
        """The same LLM labels with more expert-labelled sentences."""
        return replace(
            self, expert_sentences=self.expert_sentences + sentences, expert_tokens=self.expert_tokens + tokens
        )


@settings
class CostModel:
    """``cost_model`` of parameters.yml, section by section."""

    expert: ExpertRate
    crowd: CrowdRate
    llm_prices: dict[str, Price] = field(default_factory=dict)
    llm_batch_api: BatchAPI = field(default_factory=BatchAPI)
    local_compute: LocalCompute = field(default_factory=LocalCompute)

    def __post_init__(self) -> None:
        # the discount is the batch API's, not a model's: every price carries it, whether this was
        # built by from_params or by Kedro from the YAML (CostModel(**cost_model))
        discount = self.llm_batch_api.discount
        object.__setattr__(
            self,
            "llm_prices",
            {
                model: price if price.batch_discount == discount else replace(price, batch_discount=discount)
                for model, price in self.llm_prices.items()
            },
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CostModel:
        """``cost_model`` from YAML, every number checked; an error names the parameter."""
        sections = {
            name: parse(kind, params.get(name), f"cost_model.{name}")  # a missing section: its defaults
            for name, kind in (
                ("expert", ExpertRate),
                ("crowd", CrowdRate),
                ("llm_batch_api", BatchAPI),
                ("local_compute", LocalCompute),
            )
        }
        prices = price_table(params.get("llm_prices"), batch_discount=sections["llm_batch_api"].discount)
        return parse(cls, {**params, **sections, "llm_prices": prices}, "cost_model")

    def llm_usd(self, model: str | None, input_tokens: float, output_tokens: float, tier: str = "online") -> float:
        """Tokens of ``model`` bought online or in a batch job; a model not in the price list (a
        local one) costs nothing per token."""
        if model is None or model not in self.llm_prices:
            return 0.0
        return self.llm_prices[model].cost(input_tokens, output_tokens, tier)

    def cost(self, labelled: LabelledSet) -> LabelCost:
        llm_usd = labelled.llm_usd
        if llm_usd is None:
            llm_usd = self.llm_usd(labelled.llm_model, labelled.llm_input_tokens, labelled.llm_output_tokens)
        return LabelCost(
            expert_usd=self.expert.usd(labelled.expert_tokens) + self.expert.usd_for_time(labelled.expert_seconds),
            llm_usd=llm_usd,
            compute_usd=labelled.llm_seconds / 3600 * self.local_compute.usd_per_hour,
        )


def on_frontier(table: pd.DataFrame, cost: str = "total_usd", quality: str = "f1_mean") -> pd.Series:
    """True for the results no other result beats: none is at most as expensive and strictly better,
    or strictly cheaper and at least as good (the F1-vs-$ Pareto frontier)."""
    costs, scores = table[cost].to_numpy(), table[quality].to_numpy()
    dominated = [
        bool((((costs <= c) & (scores > s)) | ((costs < c) & (scores >= s))).any()) for c, s in zip(costs, scores)
    ]
    return pd.Series([not d for d in dominated], index=table.index, name="on_frontier")


def cheapest_reaching(
    table: pd.DataFrame, target: float, cost: str = "total_usd", quality: str = "f1_mean"
) -> pd.Series | None:
    """The cheapest row whose ``quality`` reaches ``target``; None when no row does."""
    reached = table[table[quality] >= target]
    return None if reached.empty else reached.loc[reached[cost].idxmin()]
