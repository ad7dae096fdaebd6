"""Kill `generate` with SIGKILL at random moments, resume each time: the final kept examples equal an
uninterrupted run's byte for byte, and no answer that had been journaled is ever requested again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.core.jsonio import read_jsonl
from pipeline.simulator.server import SimulatorConfig, SimulatorServer

RUN_SEED = 3
DEADLINE_S = 300  # only to fail clearly when a session journals nothing; kills wait for answers, not for time


def command(server: SimulatorServer, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "flows.cli", "generate", "-n", "500", "-o", str(out), "--seed", str(RUN_SEED),
        "--base-url", server.base_url, "--model", "simulated-teacher", "--no-cache", "--concurrency", "3",
        "--no-progress",
    ]  # fmt: skip


def journaled_count(journal: Path) -> int:
    """Answers in the journal so far: each is one line, written with its newline in one write."""
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def kill_once_journaled(process: subprocess.Popen, journal: Path, target: int, log: Path) -> None:
    """SIGKILL `process` as soon as `journal` holds `target` answers; fail if it ends or stalls before."""
    deadline = time.monotonic() + DEADLINE_S
    try:
        while journaled_count(journal) < target:
            assert process.poll() is None, f"ended before {target} answers: {log.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() < deadline, f"fewer than {target} answers journaled after {DEADLINE_S} s"
            time.sleep(0.01)
    finally:
        process.kill()  # SIGKILL: no handler, no cleanup
    assert process.wait() == -signal.SIGKILL, "the run ended by itself before the kill"


def test_sigkill_and_resume_is_exact_and_repays_nothing(tmp_path: Path, request_hash) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with SimulatorServer(SimulatorConfig(latency_s=0.5)) as server:
        reference = tmp_path / "reference"
        subprocess.run(command(server, reference), env=env, check=True, capture_output=True, timeout=300)
        reference_requests = len(server.requests)

        crashed = tmp_path / "crashed"
        journal = crashed / "responses.jsonl"
        rng = random.Random(7)
        # Each session is killed after 1 to `step` new answers: four kills journal at most 2/3 of the answers the
        # run needs, so every kill lands mid-run however slow the machine is.
        step = reference_requests // 6
        kills: list[tuple[float, set[int]]] = []  # (time of the kill, request indices journaled by then)
        for session in range(4):
            target = journaled_count(journal) + rng.randint(1, step)
            log = tmp_path / f"session-{session}.log"
            with open(log, "wb") as sink:
                process = subprocess.Popen(command(server, crashed), env=env, stdout=sink, stderr=subprocess.STDOUT)
            kill_once_journaled(process, journal, target, log)
            kills.append((time.time(), {r["request_index"] for r in read_jsonl(journal, recover_tail=True)}))
        final = subprocess.run(command(server, crashed), env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr
        assert (crashed / "kept.jsonl").read_bytes() == (reference / "kept.jsonl").read_bytes()
        stats = json.loads((crashed / "stats.json").read_text())
        assert stats["kept"] == 500 and stats["finished"]

        answered = [r for r in server.requests[reference_requests:] if r.status == 200]
        last_index = max(r["request_index"] for r in read_jsonl(journal))
        index_of = {request_hash(index, RUN_SEED): index for index in range(last_index + 50)}
        assert all(r.body_sha256 in index_of for r in answered)  # the hashes are rebuilt right
        for killed_at, journaled in kills:
            repaid = {index_of[r.body_sha256] for r in answered if r.timestamp > killed_at} & journaled
            assert repaid == set(), f"answers journaled before a kill were requested again: {sorted(repaid)}"
        # Only answers in flight at a kill may have been requested twice.
        in_flight_bound = 3 * len(kills)  # --concurrency 3
        assert len(answered) - len(set(r.body_sha256 for r in answered)) <= in_flight_bound
