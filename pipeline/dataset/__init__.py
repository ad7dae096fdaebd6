"""A run folder into a Hugging Face dataset, Alpaca JSON, a card and a report with figures."""

from pipeline.dataset.build import build_dataset, load, push_to_hub

__all__ = ["build_dataset", "load", "push_to_hub"]
