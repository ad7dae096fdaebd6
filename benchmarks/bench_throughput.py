"""Benchmark: how much of a requests-per-minute budget `generate` uses against a slow teacher, side by side
with a one-request-at-a-time loop, and the per-answer processing cost at a large pool.

The offline teacher answers after a fixed latency (1 s by default), like a remote API; `generate` runs with a
client-side rpm budget and enough requests in flight to fill it.

    python benchmarks/bench_throughput.py
    python benchmarks/bench_throughput.py --latency 1.0 --rpm 300 --requests 150 --pool 50000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.core.records import TeacherResponse
from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.parse import parse_answer
from pipeline.generation.processing import GenerateStats, Processor
from pipeline.generation.prompts import request_prompt, request_seed
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.generation.store import RunStore
from pipeline.simulator.server import DEFAULT_CONFIG, SimulatorConfig, SimulatorServer, answer_rng, generate_answer
from pipeline.teacher.client import TeacherConfig


def achieved_rpm(server: SimulatorServer, requests: int, concurrency: int, rpm: float | None, root: Path) -> float:
    """Requests per minute that `generate` completes against the server."""
    seeds = load_seed_tasks(default_seed_path())
    config = GenerateConfig(num_instructions=10**9, max_requests=requests, max_concurrency=concurrency)
    teacher = TeacherConfig(model="simulated-teacher", base_url=server.base_url, rpm=rpm)
    stats = generate(config, teacher, "k", default_seed_path(), seeds, root, progress=False)
    return 60.0 * stats.answers / stats.elapsed_s


def processing_cost(pool_size: int, answers: int, root: Path) -> tuple[float, int, float, int]:
    """Mean ms to process one answer (parse, filter, novelty check, journal) with `pool_size` kept already;
    also the pool size reached, the ms of that spent in the novelty check, and how many checks ran."""
    seeds = load_seed_tasks(default_seed_path())
    config = GenerateConfig(num_instructions=10**9)
    store = RunStore(root)
    store.open({}, {})
    store.start_derived(None)
    processor = Processor(config, seeds, store, GenerateStats())
    request = 0

    def answer(index: int) -> tuple[object, TeacherResponse]:
        prompt = request_prompt(seeds, config, index)
        text, finish = generate_answer(
            prompt.text, answer_rng(prompt.text, request_seed(0, index), 0), DEFAULT_CONFIG, True
        )
        return prompt, TeacherResponse(text, finish, 500, 1500, "simulated-teacher", None, 0.0)

    while len(processor.index) < pool_size:  # fill the pool the way a run would
        prompt, response = answer(request)
        for item in parse_answer(response.text, response.finish_reason):
            if item.example is not None:
                processor.index.add_if_novel(item.example.instruction)
        request += 1
    batch = [(index, *answer(index)) for index in range(request, request + answers)]  # the teacher's work
    check, novelty = processor.index.add_if_novel, {"seconds": 0.0, "checks": 0}

    def timed_check(instruction: str, top_k: int = 10) -> object:  # the novelty check's share of the time
        started = time.perf_counter()
        verdict = check(instruction, top_k)
        novelty["seconds"] += time.perf_counter() - started
        novelty["checks"] += 1
        return verdict

    processor.index.add_if_novel = timed_check
    started = time.perf_counter()
    for index, _, response in batch:
        processor.process(index, response)
    elapsed = time.perf_counter() - started
    store.close()
    return 1e3 * elapsed / answers, len(processor.index), 1e3 * novelty["seconds"] / answers, novelty["checks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the teacher takes per answer")
    parser.add_argument("--rpm", type=float, default=300.0, help="client-side requests-per-minute budget")
    parser.add_argument("--requests", type=int, default=150, help="requests in the budgeted run")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in the budgeted run")
    parser.add_argument("--sequential-requests", type=int, default=15)
    parser.add_argument("--pool", type=int, default=50_000, help="kept instructions before timing processing")
    parser.add_argument("--answers", type=int, default=300, help="answers timed at that pool")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(SimulatorConfig(latency_s=args.latency)) as server:
        root = Path(tmp)
        concurrent = achieved_rpm(server, args.requests, args.concurrency, args.rpm, root / "budgeted")
        sequential = achieved_rpm(server, args.sequential_requests, 1, args.rpm, root / "sequential")
        print(f"teacher latency {args.latency:.1f}s, budget {args.rpm:.0f} requests/min")
        share = concurrent / args.rpm
        print(f"  generate, {args.concurrency} in flight: {concurrent:6.1f} req/min = {share:6.1%} of budget")
        print(f"  one request at a time:        {sequential:6.1f} req/min = {sequential / args.rpm:6.1%} of budget")
        print(f"  ratio: {concurrent / sequential:.1f}x")
        per_answer, pool, novelty, checks = processing_cost(args.pool, args.answers, root / "processing")
        print(f"processing per answer at a pool of {pool:,}: {per_answer:.2f} ms (parse + filter + novelty + journal)")
        print(f"  of which the novelty check: {novelty:.2f} ms ({checks / args.answers:.1f} candidates per answer, "
              f"{novelty * args.answers / checks:.3f} ms each)")  # fmt: skip


if __name__ == "__main__":
    main()
