"""Claude prices and token accounting: the one place a price lives.

Prices are USD per million tokens (input, output), from Anthropic's public price list. The Message
Batches API bills half of the interactive price. A model missing from the table is priced at the
most expensive known Sonnet-class rate so that an estimate errs high, never low.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# model -> (USD per 1M input tokens, USD per 1M output tokens), interactive price.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
}
FALLBACK_PRICE: tuple[float, float] = (3.0, 15.0)
BATCH_DISCOUNT = 0.5


def price_for(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens; dated ids (``claude-sonnet-4-5-20250929``) use their family."""
    for name, price in PRICES_PER_MTOK.items():
        if model == name or model.startswith(name + "-"):
            return price
    return FALLBACK_PRICE


def cost_usd(model: str, input_tokens: int, output_tokens: int, batch: bool = False) -> float:
    """Estimated cost of one or many calls."""
    p_in, p_out = price_for(model)
    cost = (input_tokens * p_in + output_tokens * p_out) / 1e6
    return cost * BATCH_DISCOUNT if batch else cost


@dataclass
class Usage:
    """Tokens and cost of the calls that reached the API; cache hits are counted apart and cost nothing."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0
    batch_requests: int = 0

    def add(self, model: str, input_tokens: int, output_tokens: int, batch: bool = False) -> None:
        self.requests += 1
        self.batch_requests += int(batch)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd(model, input_tokens, output_tokens, batch)

    def as_dict(self) -> dict[str, float | int]:
        d = asdict(self)
        d["cost_usd"] = round(self.cost_usd, 6)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Usage:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
