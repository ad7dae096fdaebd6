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


def command(server: SimulatorServer, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "flows.cli", "generate", "-n", "500", "-o", str(out), "--seed", str(RUN_SEED),
        "--base-url", server.base_url, "--model", "simulated-teacher", "--no-cache", "--concurrency", "3",
        "--no-progress",
    ]  # fmt: skip


def test_sigkill_and_resume_is_exact_and_repays_nothing(tmp_path: Path, request_hash) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with SimulatorServer(SimulatorConfig(latency_s=0.5)) as server:
        reference = tmp_path / "reference"
        subprocess.run(command(server, reference), env=env, check=True, capture_output=True, timeout=300)
        reference_requests = len(server.requests)

        crashed = tmp_path / "crashed"
        rng = random.Random(7)
        kills: list[tuple[float, set[int]]] = []  # (time of the kill, request indices journaled by then)
        for _ in range(4):
            process = subprocess.Popen(command(server, crashed), env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(rng.uniform(1.5, 3.0))
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
            assert process.wait() == (-signal.SIGKILL if killed else 0)
            journal = crashed / "responses.jsonl"
            journaled = (
                {r["request_index"] for r in read_jsonl(journal, recover_tail=True)} if journal.exists() else set()
            )
            if killed:
                kills.append((time.time(), journaled))
        assert len(kills) >= 3 and len(kills[0][1]) > 0  # killed mid-run, after some answers were journaled
        final = subprocess.run(command(server, crashed), env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr
        assert (crashed / "kept.jsonl").read_bytes() == (reference / "kept.jsonl").read_bytes()
        stats = json.loads((crashed / "stats.json").read_text())
        assert stats["kept"] == 500 and stats["finished"]

        answered = [r for r in server.requests[reference_requests:] if r.status == 200]
        last_index = max(r["request_index"] for r in read_jsonl(crashed / "responses.jsonl"))
        index_of = {request_hash(index, RUN_SEED): index for index in range(last_index + 50)}
        assert all(r.body_sha256 in index_of for r in answered)  # the hashes are rebuilt right
        for killed_at, journaled in kills:
            repaid = {index_of[r.body_sha256] for r in answered if r.timestamp > killed_at} & journaled
            assert repaid == set(), f"answers journaled before a kill were requested again: {sorted(repaid)}"
        # Only answers in flight at a kill may have been requested twice.
        in_flight_bound = 3 * len(kills)  # --concurrency 3
        assert len(answered) - len(set(r.body_sha256 for r in answered)) <= in_flight_bound
