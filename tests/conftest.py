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


@pytest.fixture(scope="session")
def request_hash():
    """The body hash the offline teacher records for request i of a run with default settings."""
    import json

    from pipeline.generate import request_seed, stop_sequences
    from pipeline.prompts import prompt_for_request
    from pipeline.seeds import default_seed_path, load_seed_tasks
    from pipeline.simulator import canonical_body
    from pipeline.teacher import Teacher, TeacherConfig

    seeds = load_seed_tasks(default_seed_path())

    def body_hash(index: int, run_seed: int = 0) -> str:
        teacher = Teacher.__new__(Teacher)  # only its pure request building is used
        teacher.config = TeacherConfig(model="simulated-teacher")
        prompt = prompt_for_request(seeds, run_seed, index)
        body = teacher.request_body(prompt, stop_sequences(20), request_seed(run_seed, index))
        return canonical_body(json.dumps(Teacher.wire_params(body)).encode())[1]

    return body_hash
