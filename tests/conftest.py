"""Shared fixtures: the offline teacher on a free loopback port, and small seed files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Tests never touch the user's response cache.
os.environ["ALPACA_PIPELINE_CACHE"] = str(Path(tempfile.mkdtemp(prefix="alpaca-cache-")) / "teacher.sqlite")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def small_seed_path() -> Path:
    return DATA / "self_instruct_format.jsonl"


@pytest.fixture(scope="session")
def teacher_server():
    """One offline teacher for the session; tests that inject faults use their own."""
    from pipeline.simulator import SimulatorServer

    with SimulatorServer() as server:
        yield server
