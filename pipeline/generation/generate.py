"""The command line's driver of the engine: a sliding window of requests in flight, answers used as they arrive.

Request i's prompt depends only on (run seed, i), and the engine uses answers in request order whatever order they
arrive in, so a run's result depends only on its settings and the teacher's answers. Every answer is journaled on
arrival; running the same command again continues where the last session stopped and pays for nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.generation.config import GenerateConfig
from pipeline.generation.engine import Engine
from pipeline.generation.fetch import fetch
from pipeline.generation.processing import GenerateStats
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.client import Teacher, TeacherConfig


async def _slide(engine: Engine, teacher: Teacher, seeds: Sequence[SeedTask], bar: tqdm) -> None:
    """Keep up to the teacher's adaptive window of requests in flight (at most `max_concurrency`), no more than the
    target probably needs, until a stop rule."""
    config, stats = engine.config, engine.stats
    in_flight: dict[int, asyncio.Task[TeacherResponse]] = {}
    failed = True
    try:
        while not engine.advance().stopped:
            bar.update(stats.kept - bar.n)
            bar.set_postfix(_postfix(stats, teacher), refresh=False)
            for index in engine.wanted(teacher.window.allowed - len(in_flight), busy=in_flight):
                in_flight[index] = asyncio.create_task(fetch(teacher, config, seeds, index))
            await asyncio.wait(in_flight.values(), return_when=asyncio.FIRST_COMPLETED)
            for index in [index for index, task in in_flight.items() if task.done()]:
                engine.receive(index, in_flight.pop(index).result())
        bar.update(stats.kept - bar.n)
        failed = False
    finally:
        if failed:
            for task in in_flight.values():
                task.cancel()
        # Answers already requested are paid for: let them arrive and journal them for a later extension.
        results = await asyncio.gather(*in_flight.values(), return_exceptions=True)
        for index, result in zip(in_flight, results, strict=True):
            if isinstance(result, TeacherResponse):
                engine.receive(index, result)
        engine.add_retries(teacher.retries, teacher.malformed)
        engine.note_context_max_tokens(teacher.context_max_tokens)


def _postfix(stats: GenerateStats, teacher: Teacher) -> dict[str, str]:
    postfix = {
        "in_flight": f"{teacher.in_flight}/{teacher.window.allowed}",  # the adaptive window, at most --concurrency
        "tokens": f"{stats.paid_prompt_tokens + stats.paid_completion_tokens:,}",
        "keep": f"{stats.kept / max(stats.candidates, 1):.0%}",
    }
    if stats.cost_usd is not None:
        postfix["$"] = f"{stats.cost_usd:.2f}"
    if stats.projected:  # the forecast, re-made from the yield so far
        postfix["projected"] = f"~{stats.projected['requests']:,} req"
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
    """Run (or continue) generation in `output_dir` until a stop rule; returns the run's counters.

    The folder gets manifest.json, responses.jsonl (every answer), kept.jsonl, rejected.jsonl and stats.json.
    """
    engine = Engine(config, teacher_config, seed_path, seeds, output_dir, prices)

    async def main() -> None:
        teacher = Teacher(teacher_config, api_key, cache=cache, max_in_flight=config.max_concurrency)
        teacher.context_max_tokens = engine.context_max_tokens  # an earlier session found the context too short
        bar = tqdm(total=config.num_instructions, unit="example", desc="kept", disable=not progress,
                   dynamic_ncols=True)  # fmt: skip
        try:
            await _slide(engine, teacher, seeds, bar)
        finally:
            bar.close()
            await teacher.aclose()

    try:
        asyncio.run(main())
    finally:
        engine.close()
    return engine.stats
