"""The Batch API path against the offline teacher's /v1/files and /v1/batches: the same run as online, a SIGKILL while
waiting for a batch, expired batches, per-line errors and a failed upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.simulator.server import SimulatorConfig, SimulatorServer

EXAMPLES = 80


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_PIPELINE_BATCH_POLL_S", "0.05")


def generate(server: SimulatorServer, run_dir: Path, *extra: str) -> str:
    args = ["generate", "-n", str(EXAMPLES), "-o", str(run_dir), "--base-url", server.base_url, "--no-cache",
            "--no-progress", *extra]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("online") / "run"
    with SimulatorServer() as server:
        generate(server, run_dir)
    return run_dir


def test_batch_and_online_runs_are_byte_identical_at_half_the_price(online: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"simulated-teacher": {"input": 1.0, "output": 2.0}}))
    with SimulatorServer() as server:
        generate(server, tmp_path / "batch", "--batch", "--prices", str(prices))
        assert server.batches_created >= 1
        assert not [r for r in server.requests if r.endpoint in ("/v1/chat/completions", "/v1/completions")]
    assert (tmp_path / "batch" / "kept.jsonl").read_bytes() == (online / "kept.jsonl").read_bytes()
    assert (tmp_path / "batch" / "rejected.jsonl").read_bytes() == (online / "rejected.jsonl").read_bytes()
    stats = json.loads((tmp_path / "batch" / "stats.json").read_text())
    full = (stats["paid_prompt_tokens"] * 1.0 + stats["paid_completion_tokens"] * 2.0) / 1e6
    assert stats["cost_usd"] == pytest.approx(full / 2)


def test_a_run_killed_while_waiting_resumes_its_batch(online: Path, tmp_path: Path) -> None:
    with SimulatorServer(SimulatorConfig(batch_phase_s=0.3)) as server:
        generate(server, tmp_path / "uninterrupted", "--batch")
        uninterrupted = server.batches_created
    run_dir = tmp_path / "killed"
    with SimulatorServer(SimulatorConfig(batch_phase_s=0.3)) as server:
        command = [sys.executable, "-m", "flows.cli", "generate", "-n", str(EXAMPLES), "-o", str(run_dir),
                   "--base-url", server.base_url, "--no-cache", "--no-progress", "--batch"]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
        journal, deadline = run_dir / "batches.jsonl", time.monotonic() + 120
        try:  # killed once a batch is created and before it is collected: while it waits
            while not (journal.exists() and '"created"' in journal.read_text()):
                assert process.poll() is None and time.monotonic() < deadline, "no batch was created"
                time.sleep(0.01)
        finally:
            process.kill()
        assert process.wait() == -signal.SIGKILL
        assert '"collected"' not in journal.read_text()
        generate(server, run_dir, "--batch")
        assert server.batches_created == uninterrupted  # the open batch was resumed, not submitted again
    assert (run_dir / "kept.jsonl").read_bytes() == (online / "kept.jsonl").read_bytes()


def test_an_expired_batch_and_failed_lines_go_into_the_next_round(online: Path, tmp_path: Path) -> None:
    for name, config in {"expired": SimulatorConfig(batch_expire_first=1),
                         "line-errors": SimulatorConfig(batch_line_error_every=3)}.items():  # fmt: skip
        with SimulatorServer(config) as server:
            generate(server, tmp_path / name, "--batch")
            assert server.batches_created >= 2  # the unanswered requests were submitted again
        events = [json.loads(line) for line in (tmp_path / name / "batches.jsonl").read_text().splitlines()]
        collected = [event for event in events if event["event"] == "collected"]
        assert collected[0]["failed"] > 0 and (name != "expired" or collected[0]["status"] == "expired")
        assert (tmp_path / name / "kept.jsonl").read_bytes() == (online / "kept.jsonl").read_bytes()


def test_a_failed_upload_says_so_and_submits_nothing(tmp_path: Path) -> None:
    with SimulatorServer() as server:
        server.inject("server_error", count=4)  # the SDK's own retries (3) fail too
        args = ["generate", "-n", "20", "-o", str(tmp_path / "run"), "--base-url", server.base_url, "--no-cache",
                "--no-progress", "--batch"]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "uploading the batch file" in result.output, result.output
        assert "nothing was submitted" in result.output and server.batches_created == 0
        assert CliRunner().invoke(main, args).exit_code == 0  # run again: it goes through


def test_judge_in_batches_gives_the_online_judgements(online: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(online, copy)
    with SimulatorServer() as server:
        for folder, extra in ((online, []), (copy, ["--batch"])):
            result = CliRunner().invoke(main, ["judge", str(folder), "--base-url", server.base_url, "--no-cache",
                                               "--no-progress", *extra])  # fmt: skip
            assert result.exit_code == 0, result.output

    def scores(folder: Path) -> dict[str, float | None]:
        lines = (folder / "judgements" / "original-accuracy.jsonl").read_text().splitlines()
        return {json.loads(line)["key"]: json.loads(line)["score"] for line in lines}

    assert scores(copy) == scores(online) and len(scores(copy)) == EXAMPLES
