"""Prefect flows over the `pipeline` library, and the `alpaca-pipeline` command line at its edge."""
