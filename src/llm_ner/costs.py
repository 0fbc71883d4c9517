"""What labels cost: the cost model (expert, crowd, LLM tokens, local compute) and the dollars of a
labelled set, plus the two questions asked of costed results -- which are on the F1-vs-$ Pareto
frontier, and what is the cheapest way to reach a target F1.

The prices themselves live in ``conf/base/parameters.yml`` (``cost_model``), each with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import pandas as pd

from .llm.costs import Price


def _number(params: Mapping[str, Any], key: str, where: str, minimum: float = 0.0, strict: bool = False) -> float:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{where}.{key} must be a number {bound}, got {value!r}")
    return float(value)


def _known(params: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class ExpertRate:
    """An expert annotator paid by the hour, labelling at a steady speed in tokens per hour."""
    usd_per_hour: float
    tokens_per_hour: float

    def usd(self, tokens: float) -> float:
        return tokens / self.tokens_per_hour * self.usd_per_hour


@dataclass(frozen=True)
class CrowdRate:
    """Crowd workers paid per unit (one sentence), several workers per unit for a majority vote."""
    usd_per_sentence: float
    workers: int

    def usd(self, sentences: float) -> float:
        return sentences * self.usd_per_sentence * self.workers


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
    training, demonstrations, model selection, expert budget) and the LLM calls behind its LLM labels."""
    expert_sentences: float = 0
    expert_tokens: float = 0
    llm_model: str | None = None      # the API model name prices are listed under; None = no LLM labels
    llm_input_tokens: float = 0
    llm_output_tokens: float = 0
    llm_seconds: float = 0.0          # wall time of the LLM labelling, for a local model's compute cost

    def plus_expert(self, sentences: float, tokens: float) -> "LabelledSet":
        """The same LLM labels with more expert-labelled sentences."""
        return LabelledSet(self.expert_sentences + sentences, self.expert_tokens + tokens, self.llm_model,
                           self.llm_input_tokens, self.llm_output_tokens, self.llm_seconds)


@dataclass(frozen=True)
class CostModel:
    expert: ExpertRate
    crowd: CrowdRate
    llm_prices: Mapping[str, Price] = field(default_factory=dict)
    batch_api: bool = False            # price LLM calls as OpenAI Batch API calls
    batch_discount: float = 0.5        # share of the list price the Batch API takes off
    compute_usd_per_hour: float = 0.0  # the machine that runs a local LLM; 0 = not charged

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str = "cost_model") -> "CostModel":
        """``cost_model`` from YAML, every number checked; an error names the parameter."""
        _known(params, {"expert", "crowd", "llm_prices", "llm_batch_api", "local_compute"}, where)
        expert = params.get("expert") or {}
        _known(expert, {"usd_per_hour", "tokens_per_hour"}, f"{where}.expert")
        crowd = params.get("crowd") or {}
        _known(crowd, {"usd_per_sentence", "workers"}, f"{where}.crowd")
        batch = params.get("llm_batch_api") or {}
        _known(batch, {"enabled", "discount"}, f"{where}.llm_batch_api")
        compute = params.get("local_compute") or {}
        _known(compute, {"usd_per_hour"}, f"{where}.local_compute")
        workers = crowd.get("workers")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"{where}.crowd.workers must be an integer >= 1, got {workers!r}")
        enabled = batch.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ValueError(f"{where}.llm_batch_api.enabled must be true or false, got {enabled!r}")
        discount = _number(batch, "discount", f"{where}.llm_batch_api") if "discount" in batch else 0.5
        if discount > 1:
            raise ValueError(f"{where}.llm_batch_api.discount must be between 0 and 1, got {discount!r}")
        prices = {}
        for model, price in (params.get("llm_prices") or {}).items():
            _known(price, {"input_per_million", "output_per_million"}, f"{where}.llm_prices.{model}")
            prices[model] = Price(_number(price, "input_per_million", f"{where}.llm_prices.{model}"),
                                  _number(price, "output_per_million", f"{where}.llm_prices.{model}"))
        return cls(
            expert=ExpertRate(_number(expert, "usd_per_hour", f"{where}.expert"),
                              _number(expert, "tokens_per_hour", f"{where}.expert", strict=True)),
            crowd=CrowdRate(_number(crowd, "usd_per_sentence", f"{where}.crowd"), workers),
            llm_prices=prices, batch_api=enabled, batch_discount=discount,
            compute_usd_per_hour=_number(compute, "usd_per_hour", f"{where}.local_compute") if compute else 0.0,
        )

    def llm_usd(self, model: str | None, input_tokens: float, output_tokens: float) -> float:
        """A model not in the price list (a local one) costs nothing per token."""
        if model is None or model not in self.llm_prices:
            return 0.0
        usd = self.llm_prices[model].cost(input_tokens, output_tokens)
        return usd * (1 - self.batch_discount) if self.batch_api else usd

    def cost(self, labelled: LabelledSet) -> LabelCost:
        return LabelCost(
            expert_usd=self.expert.usd(labelled.expert_tokens),
            llm_usd=self.llm_usd(labelled.llm_model, labelled.llm_input_tokens, labelled.llm_output_tokens),
            compute_usd=labelled.llm_seconds / 3600 * self.compute_usd_per_hour,
        )


def on_frontier(table: pd.DataFrame, cost: str = "total_usd", quality: str = "f1_mean") -> pd.Series:
    """True for the results no other result beats: none is at most as expensive and strictly better,
    or strictly cheaper and at least as good (the F1-vs-$ Pareto frontier)."""
    costs, scores = table[cost].to_numpy(), table[quality].to_numpy()
    dominated = [
        bool((((costs <= c) & (scores > s)) | ((costs < c) & (scores >= s))).any())
        for c, s in zip(costs, scores)
    ]
    return pd.Series([not d for d in dominated], index=table.index, name="on_frontier")


def cheapest_reaching(table: pd.DataFrame, target: float, cost: str = "total_usd",
                      quality: str = "f1_mean") -> pd.Series | None:
    """The cheapest row whose ``quality`` reaches ``target``; None when no row does."""
    reached = table[table[quality] >= target]
    return None if reached.empty else reached.loc[reached[cost].idxmin()]
