"""Benchmark: judge throughput against a slow teacher with a requests-per-minute budget, and how much of the
budget `judge` uses, side by side with one request at a time.

The offline teacher judges after a fixed latency (1 s by default), like a remote API; the run folder is made first
by `generate` against the same server without latency.

    python benchmarks/bench_judge.py
    python benchmarks/bench_judge.py --latency 1.0 --rpm 600 --examples 300 --concurrency 32
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.review.judge import journal_path, judge_run
from pipeline.simulator.server import SimulatorConfig, SimulatorServer
from pipeline.teacher.config import TeacherConfig


def make_run(root: Path, examples: int) -> Path:
    seeds = load_seed_tasks(default_seed_path())
    with SimulatorServer() as server:
        teacher = TeacherConfig(model="simulated-teacher", base_url=server.base_url)
        generate(GenerateConfig(num_instructions=examples), teacher, "k", default_seed_path(), seeds, root,
                 progress=False)  # fmt: skip
    return root


def judged_per_minute(run_dir: Path, server: SimulatorServer, rpm: float, concurrency: int, rubric: str) -> float:
    teacher = TeacherConfig(model="simulated-teacher", base_url=server.base_url, rpm=rpm, temperature=0.0,
                            max_tokens=256)  # fmt: skip
    started = time.perf_counter()
    stats = judge_run(run_dir, teacher, "k", rubric=rubric, concurrency=concurrency, progress=False)
    return 60.0 * stats.answered / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the teacher takes per judgement")
    parser.add_argument("--rpm", type=float, default=600.0, help="client-side requests-per-minute budget")
    parser.add_argument("--examples", type=int, default=300, help="kept examples to judge")
    parser.add_argument("--concurrency", type=int, default=32, help="judgements in flight")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(Path(tmp) / "run", args.examples)
        with SimulatorServer(SimulatorConfig(latency_s=args.latency)) as server:
            # two rubrics, so neither session finds the other's judgements in the journal
            concurrent = judged_per_minute(run_dir, server, args.rpm, args.concurrency, "accuracy")
            sequential = judged_per_minute(run_dir, server, args.rpm, 1, "helpfulness")
        judged = len(journal_path(run_dir, "original", "accuracy").read_text().splitlines())
    print(f"judge: {judged} examples, teacher latency {args.latency:.1f}s, budget {args.rpm:.0f} requests/min")
    share = concurrent / args.rpm
    print(f"  {args.concurrency} in flight:        {concurrent:6.1f} judgements/min = {share:6.1%} of budget")
    print(f"  one request at a time: {sequential:6.1f} judgements/min = {sequential / args.rpm:6.1%} of budget")
    print(f"  ratio: {concurrent / sequential:.1f}x")


if __name__ == "__main__":
    main()
