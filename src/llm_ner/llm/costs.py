"""Money: a price table per model, the cost of a call at the tier it was bought at, and a dry-run
estimate before a run."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from pydantic import Field, NonNegativeFloat

from ..typed import settings

logger = logging.getLogger(__name__)

CHARACTERS_PER_TOKEN = 4  # the usual rule of thumb for English; only used where no tokenizer answers
# what every spend record carries: calls (fresh and cached), tokens, and the two money figures
MONEY_FIELDS = (
    "api_calls",
    "batch_calls",
    "cache_hits",
    "input_tokens",
    "output_tokens",
    "label_cost_usd",
    "spend_usd",
)
# how a reply was bought: a request of its own, or a line of a batch job (OpenAI's Batch API: half price)
PRICE_TIERS = ("online", "batch")


@settings
class Price:
    """USD per million tokens at list price; ``batch_discount`` (a share) comes off for batch replies
    (set from ``cost_model.llm_batch_api.discount``, not per model)."""

    input_per_million: NonNegativeFloat = 0.0
    output_per_million: NonNegativeFloat = 0.0
    batch_discount: Annotated[float, Field(ge=0, le=1)] = 0.0

    def cost(self, input_tokens: int, output_tokens: int, tier: str = "online") -> float:
        if tier not in PRICE_TIERS:
            raise ValueError(f"price tier must be one of {list(PRICE_TIERS)}, got {tier!r}")
        usd = (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6
        return usd * (1 - self.batch_discount) if tier == "batch" else usd


def money_totals(labels: Any) -> dict[str, Any]:
    """:data:`MONEY_FIELDS` summed over a run's per-sentence rows (counts as int, dollars as float)."""
    return {
        name: float(labels[name].sum()) if name.endswith("_usd") else int(labels[name].sum()) for name in MONEY_FIELDS
    }


def estimate_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARACTERS_PER_TOKEN))


def estimate_messages_tokens(messages: list[dict[str, Any]]) -> int:
    # a few tokens of chat-template overhead per message
    return sum(estimate_tokens(m["content"]) + 4 for m in messages)
