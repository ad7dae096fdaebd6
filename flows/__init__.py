"""Prefect flows over the `pipeline` library, and the `alpaca-pipeline` command line at its edge."""

import os

# Set by the project, not the user: Prefect runs offline here (no telemetry), and the library's loggers reach
# the flow-run logs. setdefault: a user's own choice still wins.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # the library also runs outside flows
