"""A run folder into a Hugging Face dataset, Alpaca JSON, a card and a report with figures."""
