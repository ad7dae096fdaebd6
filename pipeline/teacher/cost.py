"""Dollars from token counts, with a price table the user can edit; unknown models are counted in tokens only."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.errors import InputDataError

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
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), int | float) for k in ("input", "output"))):
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
