"""Benchmark: the adaptive window against a teacher that serves one request at a time, and against one that
serves many, side by side with a fixed window of `--concurrency` requests in flight.

The offline teacher with `slots=1` writes one answer at a time (each takes `--latency` seconds) and queues the
rest, like llama.cpp's server with one slot. A fixed window of 16 queues 16 answers, so with a timeout shorter
than the queue its requests time out and are asked again; the adaptive window keeps the server busy without
timeouts. Against a server with a slot per request, the adaptive window reaches the full `--concurrency`.

    python benchmarks/bench_concurrency.py
    python benchmarks/bench_concurrency.py --latency 0.25 --timeout 2 --requests 60 --concurrency 16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.simulator.server import SimulatorConfig, SimulatorServer
from pipeline.teacher import client
from pipeline.teacher.config import TeacherConfig
from pipeline.teacher.window import AdaptiveWindow


class FixedWindow(AdaptiveWindow):
    """The previous release's rule, for the side-by-side figure: `--concurrency` in flight whatever happens."""

    def __init__(self, limit: int, slow_s: float) -> None:
        super().__init__(limit, slow_s)
        self.size = float(limit)

    def answered(self, latency_s: float) -> None:
        pass

    def overloaded(self) -> None:
        pass


def run(args: argparse.Namespace, slots: int | None, fixed: bool, root: Path) -> dict[str, float]:
    """One run of `--requests` requests: the server's busy share, retries, requests sent, the most in flight."""
    seeds = load_seed_tasks(default_seed_path())
    config = GenerateConfig(num_instructions=10**9, max_requests=args.requests, max_concurrency=args.concurrency)
    windows: list[AdaptiveWindow] = []
    original = client.AdaptiveWindow

    def make_window(limit: int, slow_s: float) -> AdaptiveWindow:
        windows.append((FixedWindow if fixed else original)(limit, slow_s))
        return windows[-1]

    client.AdaptiveWindow = make_window  # the benchmark's own seam: the library has one window rule
    try:
        with SimulatorServer(SimulatorConfig(latency_s=args.latency, slots=slots)) as server:
            teacher = TeacherConfig(model="simulated-teacher", base_url=server.base_url, timeout_s=args.timeout,
                                    max_retries=20, backoff_s=0.05, max_backoff_s=0.5)  # fmt: skip
            started = time.perf_counter()
            stats = generate(config, teacher, "k", default_seed_path(), seeds, root, progress=False)
            wall = time.perf_counter() - started
            busy = server.busy_seconds() / (slots or 1)
            peak = server.peak_concurrency()
            sent = sum(server.stats().values())
    finally:
        client.AdaptiveWindow = original
    return {"answers": stats.answers, "wall_s": wall, "busy": busy / wall, "retries": stats.retries,
            "requests_sent": sent, "peak": peak, "shrinks": windows[0].shrinks}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.25, help="seconds a slot takes per answer")
    parser.add_argument("--timeout", type=float, default=2.0, help="the client's --timeout")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            ("one slot, adaptive window", run(args, 1, False, Path(tmp) / "a")),
            ("one slot, fixed window (previous release)", run(args, 1, True, Path(tmp) / "b")),
            (f"{args.concurrency} slots, adaptive window", run(args, args.concurrency, False, Path(tmp) / "c")),
        ]
    print(f"latency {args.latency}s per answer, --timeout {args.timeout}, {args.requests} requests, "
          f"--concurrency {args.concurrency}")  # fmt: skip
    print("| | wall s | server busy | retries (timeouts) | requests sent | most in flight at the server | halvings |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows:
        print(f"| {name} | {row['wall_s']:.1f} | {row['busy']:.1%} | {row['retries']} | {row['requests_sent']} | "
              f"{row['peak']} | {row['shrinks']} |")  # fmt: skip


if __name__ == "__main__":
    main()
