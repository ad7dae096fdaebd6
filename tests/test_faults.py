"""The teacher client under injected faults, over real HTTP: each run completes with the right counts or fails
fast with a clear message, and stays resumable; the API key never reaches a file or a log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.core.errors import TeacherError
from pipeline.core.jsonio import read_jsonl
from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.simulator.server import SimulatorConfig, SimulatorServer
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.client import TeacherConfig

SEEDS = load_seed_tasks(default_seed_path())
CONFIG = GenerateConfig(num_instructions=30, max_concurrency=4)


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(SimulatorConfig(seed=1)) as server:
        yield server


def teacher(server: SimulatorServer, **overrides) -> TeacherConfig:
    fast = {"model": "simulated-teacher", "backoff_s": 0.05, "max_backoff_s": 0.2, "timeout_s": 2.0, "max_retries": 4}
    return TeacherConfig(base_url=server.base_url, **{**fast, **overrides})


def run(server: SimulatorServer, out: Path, api_key: str = "k", **overrides):
    return generate(CONFIG, teacher(server, **overrides), api_key, default_seed_path(), SEEDS, out, progress=False)


@pytest.fixture(scope="module")
def clean_kept(server, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("clean") / "run"
    run(server, out)
    return (out / "kept.jsonl").read_bytes()


def statuses(server: SimulatorServer, since: int) -> list[int]:
    return [request.status for request in server.requests[since:]]


@pytest.mark.parametrize(
    ("fault", "params", "status"),
    [
        ("rate_limit", {"retry_after": 0.2}, 429),
        ("server_error", {}, 500),
        ("unavailable", {}, 503),
        ("drop", {}, 0),
        ("hang", {"seconds": 3.0}, None),
    ],
)
def test_transient_faults_are_retried_and_the_result_is_unchanged(
    server, tmp_path: Path, clean_kept: bytes, fault: str, params: dict, status: int | None
) -> None:
    since = len(server.requests)
    server.inject(fault, count=3, **params)
    stats = run(server, tmp_path / "run", timeout_s=0.5 if fault == "hang" else 2.0)
    assert stats.finished and stats.retries >= 3
    if status is not None:
        assert statuses(server, since).count(status) == 3
    assert (tmp_path / "run" / "kept.jsonl").read_bytes() == clean_kept


def test_retry_after_is_honoured(server, tmp_path: Path) -> None:
    since = len(server.requests)
    server.inject("rate_limit", count=1, retry_after=1.0)
    run(server, tmp_path / "run")
    times = [request.timestamp for request in server.requests[since:]]
    assert times[1] - times[0] >= 0.9  # nobody sent before the server's Retry-After had passed


@pytest.mark.parametrize(("fault", "reason"), [("garbage", "unparseable"), ("truncate", "truncated")])
def test_bad_answers_are_rejected_with_their_reason(server, tmp_path: Path, fault: str, reason: str) -> None:
    server.inject(fault, count=2)
    stats = run(server, tmp_path / "run")
    assert stats.finished and stats.rejected[reason] >= 2
    assert any(record["reason"] == reason for record in read_jsonl(tmp_path / "run" / "rejected.jsonl"))


def test_exhausted_retries_fail_clearly_and_the_run_resumes(server, tmp_path: Path, clean_kept: bytes) -> None:
    out = tmp_path / "run"
    server.inject("server_error", count=3)
    with pytest.raises(TeacherError, match="still failed after 2 retries.*run the same command again"):
        run(server, out, max_retries=2)
    stats = run(server, out, max_retries=2)
    assert stats.finished and (out / "kept.jsonl").read_bytes() == clean_kept


def test_bad_key_and_unknown_model_fail_at_once(tmp_path: Path) -> None:
    with SimulatorServer(SimulatorConfig(api_key="sk-right")) as server:
        with pytest.raises(TeacherError, match="rejected the API key"):
            run(server, tmp_path / "a", api_key="sk-wrong")
        assert statuses(server, 0) == [401]
        with pytest.raises(TeacherError, match="'nope' was not found"):
            run(server, tmp_path / "b", api_key="sk-right", model="nope")
        assert statuses(server, 1) == [404]


def test_api_key_reaches_no_file_cache_or_log(server, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-proj-THIS-KEY-MUST-NOT-LEAK-0123456789"
    caplog.set_level(logging.DEBUG)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    server.inject("rate_limit", count=2, retry_after=0.1)
    out = tmp_path / "run"
    generate(CONFIG, teacher(server), secret, default_seed_path(), SEEDS, out, cache=cache, progress=False)
    cache.close()
    files = [*out.iterdir(), *tmp_path.glob("cache.sqlite*")]
    assert len(files) >= 6
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text and "retry 1/" in caplog.text  # retries are logged, the key is not


def test_a_teacher_that_only_writes_garbage_stops_the_run(server, tmp_path: Path) -> None:
    from pipeline.core.errors import PipelineError

    server.inject("garbage", count=5)  # one request at a time, so exactly the five answers that stall it
    config = GenerateConfig(num_instructions=30, max_concurrency=1, stall_requests=5)
    with pytest.raises(PipelineError, match=r"the last 5 answers kept nothing.*rejected\.jsonl"):
        generate(config, teacher(server), "k", default_seed_path(), SEEDS, tmp_path / "run", progress=False)
    reasons = {record["reason"] for record in read_jsonl(tmp_path / "run" / "rejected.jsonl")}
    assert reasons == {"unparseable"}
