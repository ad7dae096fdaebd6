"""A hostile user, through the CLI and over real HTTP: two runs on one folder, servers that echo the key, answer
garbage or nothing, damaged run files and caches, budgets, and bad option values. Each fault ends with one clear
line, never a traceback, and loses nothing already done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.simulator.server import SimulatorConfig, SimulatorServer

WAIT_S = 120  # only to fail clearly: every wait below ends on a condition


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(SimulatorConfig(seed=4)) as server:
        yield server


def cli_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def generate_args(server: SimulatorServer, out: Path, *extra: str) -> list[str]:
    return ["generate", "-n", "40", "-o", str(out), "--base-url", server.base_url, "--model", "simulated-teacher",
            "--no-cache", "--no-progress", *extra]  # fmt: skip


def invoke(*args: str, env: dict[str, str] | None = None):
    """The CLI in this process, as a user runs it: exceptions become output and an exit code."""
    return CliRunner().invoke(main, list(args), env=env or cli_env())


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def assert_one_line_error(output: str, *expected: str) -> None:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], output


# 1. Two runs on one folder


def test_a_second_generate_on_a_busy_folder_refuses_and_the_folder_ends_as_one_clean_run(
    server: SimulatorServer, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    result = invoke(*generate_args(server, reference))
    assert result.exit_code == 0, result.output

    out = tmp_path / "run"
    server.inject("hang", count=1, seconds=WAIT_S)  # the first run's first request waits until we let it answer
    first = subprocess.Popen([sys.executable, "-m", "flows.cli", *generate_args(server, out)], env=cli_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lock = out / ".lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid), "the first run's lock")
        second = subprocess.run([sys.executable, "-m", "flows.cli", *generate_args(server, out)], env=cli_env(),
                                capture_output=True, text=True, timeout=WAIT_S)  # fmt: skip
        assert second.returncode == 1
        assert_one_line_error(second.stderr, f"in use by process {first.pid}", "another --output-dir")
        assert first.poll() is None, "the first run ended before the second one tried"
    finally:
        server.end_hangs()
        stdout, stderr = first.communicate(timeout=WAIT_S)
    assert first.returncode == 0, stderr
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    indices = [record["request_index"] for record in read_jsonl(out / "responses.jsonl")]
    assert len(indices) == len(set(indices))  # no answer journaled (or paid) twice
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == 40 and stats["received"] == len(indices)
    assert lock.read_text() == ""  # released cleanly


def test_a_lock_left_by_a_dead_process_is_taken_over(
    server: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "10")).exit_code == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".lock").write_text(dead.stdout)  # a PID, and no process holding the flock: a crashed run's lock
    result = invoke(*generate_args(server, out, "-n", "20"))
    assert result.exit_code == 0, result.output
    assert f"took over the lock of process {dead.stdout.strip()}" in caplog.text
    assert json.loads((out / "stats.json").read_text())["kept"] == 20


def test_dataset_refuses_a_run_folder_another_process_writes(server: SimulatorServer, tmp_path: Path) -> None:
    from pipeline.core.lock import FolderLock

    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "10")).exit_code == 0
    with FolderLock(out / ".lock", "run folder"):  # as a `generate` still running there holds it
        result = invoke("dataset", str(out))
    assert result.exit_code == 1
    assert_one_line_error(result.output, f"in use by process {os.getpid()}")
    assert not (out / "dataset").exists()
    assert invoke("dataset", str(out)).exit_code == 0
