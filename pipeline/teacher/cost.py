"""Dollars from token counts, with a price table the user can edit; unknown models are counted in tokens only."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pipeline.core.errors import InputDataError, PipelineError

# USD per million tokens (input, output) from OpenAI's published price list, 2025; prices move, so
# pass --prices FILE with {"model": {"input": ..., "output": ...}} to use your own.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-instruct": (1.50, 2.00),
}


def load_prices(path: str | Path | None) -> dict[str, tuple[float, float]]:
    """The default table, updated with the models of a JSON price file."""
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return prices
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputDataError(f"{path}: cannot read the price table ({error})") from None
    if not isinstance(table, dict):
        raise InputDataError(f"{path}: expected an object of {{model: {{input, output}}}}")
    for model, entry in table.items():
        if not (
            isinstance(entry, dict)
            and all(isinstance(entry.get(k), int | float) and 0 <= entry[k] < math.inf for k in ("input", "output"))
        ):  # NaN and infinities fail the range too
            raise InputDataError(f'{path}: field {model!r}: expected {{"input": USD per 1M, "output": USD per 1M}}')
        prices[model] = (float(entry["input"]), float(entry["output"]))
    return prices


def cost_usd(
    prices: dict[str, tuple[float, float]], model: str, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """Cost of a request, or None when the model has no price (a local server, an unknown model)."""
    price = prices.get(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def require_price(prices: dict[str, tuple[float, float]], model: str, budget: float | None) -> None:
    """A budget needs a price: refuse one for a model the table lacks rather than count its requests as $0."""
    if budget is not None and model not in prices:
        raise PipelineError(
            f"--max-cost needs the price of {model!r}, which the price table lacks (it knows {', '.join(prices)}): "
            f'pass --prices FILE holding {{"{model}": {{"input": USD per 1M tokens, "output": USD per 1M tokens}}}}, '
            "or run without a budget (a deployment: clear max_cost in its form, or `serve --no-max-cost`)"
        )


def worst_case_usd(prices: dict[str, tuple[float, float]], model: str, prompt_chars: int, max_tokens: int) -> float:
    """The most a request can cost: its prompt at a generous 2 characters a token, and every one of `max_tokens`.

    >>> round(worst_case_usd({"m": (1.0, 2.0)}, "m", 2000, 1000), 6)  # 1,050 prompt + 1,000 answer tokens
    0.00305
    """
    return cost_usd(prices, model, prompt_chars // 2 + 50, max_tokens) or 0.0
