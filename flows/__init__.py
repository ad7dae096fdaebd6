"""Prefect flows over the `pipeline` library, and the `alpaca-pipeline` command line at its edge."""

import logging
import os

# Set by the project, not the user: Prefect runs offline here (no telemetry), and the library's loggers reach
# the flow-run logs. setdefault: a user's own choice still wins. Prefect reads these when it sets up logging, so
# this package must be imported before prefect (the CLI and `serve` are; flow runs inherit serve's environment).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # the library also runs outside flows
# Prefect gives its extra loggers the API handler but not a level, so they would inherit the root's WARNING and drop
# the library's INFO lines (resume, rounds, training loss); the CLI's logging.basicConfig is no help in a flow run.
if logging.getLogger("pipeline").level == logging.NOTSET:  # unless a logging config of the user's set one
    logging.getLogger("pipeline").setLevel(logging.INFO)
