"""Alpaca-style instruction data: seed tasks -> teacher LLM -> filtered examples -> dataset -> fine-tuning."""

__version__ = "0.1.0"
