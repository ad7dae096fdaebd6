"""Reviewing generated data with another model: an LLM judge that scores every example (AlpaGasus), and re-answering
the kept instructions with a stronger teacher (Alpaca-GPT4)."""
