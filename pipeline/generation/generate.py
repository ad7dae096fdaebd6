"""The bootstrap loop: plan numbered requests, keep many in flight, process answers strictly in request order.

Request i's prompt depends only on (run seed, i), and answers are used in request order whatever order they
arrive in, so a run's result depends only on its settings and the teacher's answers. Every answer is
journaled on arrival; running the same command again replays the journal (no request is paid twice) and
continues where the last session stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.generation.config import GenerateConfig
from pipeline.generation.processing import GenerateStats, Processor
from pipeline.generation.prompts import BootstrapPrompt
from pipeline.generation.provenance import build_manifest, run_identity
from pipeline.generation.store import RunStore
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.client import Teacher, TeacherConfig

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0  # how often stats.json is rewritten during a run


def stop_sequences(tasks_per_request: int) -> list[str]:
    """Stop before the teacher starts a task past the requested list length."""
    return [f"{tasks_per_request + 1}. Instruction:"]


def request_seed(run_seed: int, request_index: int) -> int:
    """The `seed` sent with request i, for servers that sample reproducibly with one."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{request_index}".encode()).digest()[:4], "big") >> 1


async def _run(
    loop: Processor, teacher: Teacher, journaled: dict[int, TeacherResponse], progress: bool
) -> GenerateStats:
    config, stats, store = loop.config, loop.stats, loop.store
    started = time.perf_counter()
    stop = stop_sequences(config.tasks_per_request)

    # One request goes alone first: a bad key or model fails once, not once per request in the window.
    window = {"size": 1}

    async def fetch(request_index: int, prompt: BootstrapPrompt) -> TeacherResponse:
        if request_index in journaled:  # paid in an earlier session
            return journaled[request_index]
        seed = request_seed(config.run_seed, request_index)
        response = await teacher.ask(prompt, stop, seed, sample=request_index)
        window["size"] = config.max_concurrency
        store.journal_response({"request_index": request_index, **response.to_dict()})
        stats.new_requests += 1
        stats.cache_hits += response.cached
        loop.count_payment(response)
        return response

    in_flight: dict[int, tuple[BootstrapPrompt, asyncio.Task[TeacherResponse]]] = {}
    next_request = loop.next_index  # 0, or where the checkpoint of an earlier session left off
    limit = config.max_requests if config.max_requests is not None else 2**62
    bar = tqdm(total=config.num_instructions, unit="example", desc="kept", disable=not progress, dynamic_ncols=True)
    failed = True
    stats_written = 0.0
    try:
        for request_index in range(loop.next_index, limit):
            if stats.kept >= config.num_instructions:
                stats.stopped = "target"
                break
            if config.max_cost_usd is not None and (stats.cost_usd or 0.0) >= config.max_cost_usd:
                stats.stopped = "max_cost"
                break
            # Top up the window; answers may arrive in any order, but are used strictly in request order.
            while len(in_flight) < window["size"] and next_request < limit:
                prompt = loop.prompt(next_request)
                in_flight[next_request] = (prompt, asyncio.create_task(fetch(next_request, prompt)))
                next_request += 1
            prompt, task = in_flight.pop(request_index)
            response = await task
            processing_started = time.perf_counter()
            if processing_started - stats_written >= STATS_EVERY_S:
                loop.checkpoint()  # the state after the answers before this one
                store.write_stats(stats.to_dict())
                stats_written = processing_started
            loop.process(request_index, prompt, response)
            stats.retries = teacher.retries
            stats.elapsed_s = time.perf_counter() - started
            stats.processing_s += time.perf_counter() - processing_started
            bar.update(stats.kept - bar.n)
            bar.set_postfix(_postfix(stats, teacher), refresh=False)
            loop.check_stall()
        else:
            stats.stopped = "max_requests" if stats.kept < config.num_instructions else "target"
        failed = False
    finally:
        bar.close()
        tasks = [task for _, task in in_flight.values()]
        if failed:
            for task in tasks:
                task.cancel()
        # Answers already requested are paid for: let them arrive and be journaled for a later extension.
        await asyncio.gather(*tasks, return_exceptions=True)
        loop.checkpoint()
        stats.retries = teacher.retries
        stats.elapsed_s = time.perf_counter() - started
    return stats


def _postfix(stats: GenerateStats, teacher: Teacher) -> dict[str, str]:
    postfix = {
        "in_flight": str(teacher.in_flight),
        "tokens": f"{stats.prompt_tokens + stats.completion_tokens:,}",
        "keep": f"{stats.kept / max(stats.candidates, 1):.0%}",
    }
    if stats.cost_usd is not None:
        postfix["$"] = f"{stats.cost_usd:.2f}"
    return postfix


def generate(
    config: GenerateConfig,
    teacher_config: TeacherConfig,
    api_key: str,
    seed_path: Path,
    seeds: Sequence[SeedTask],
    output_dir: str | Path,
    prices: dict[str, tuple[float, float]] | None = None,
    cache: ResponseCache | None = None,
    progress: bool = True,
) -> GenerateStats:
    """Run (or continue) the bootstrap loop in `output_dir`.

    The folder gets manifest.json, responses.jsonl (every answer), kept.jsonl, rejected.jsonl and stats.json.
    """
    store = RunStore(output_dir)
    manifest = build_manifest(config, teacher_config, Path(seed_path), seeds)
    identity = run_identity(config, teacher_config, manifest["seed_tasks"]["sha256"])
    checkpoint = store.open(manifest, identity)
    loop = Processor(config, teacher_config, seeds, store, prices or {})
    if checkpoint is not None:
        loop.restore(checkpoint)
    journaled: dict[int, TeacherResponse] = {}
    if loop.absorb(store.iter_responses(), journaled, set()):
        log.info("continuing %s from request %d: %d journaled answers to replay", store.root, loop.next_index,
                 len(journaled))  # fmt: skip

    async def main() -> GenerateStats:
        teacher = Teacher(teacher_config, api_key, cache=cache)
        try:
            return await _run(loop, teacher, journaled, progress)
        finally:
            await teacher.aclose()

    try:
        stats = asyncio.run(main())
    finally:
        store.write_stats(loop.stats.to_dict())
        store.close()
    return stats
