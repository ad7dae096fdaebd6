"""Asking the teacher for numbered requests: one coroutine for one request, used by every driver, and a batch of
requests fetched into a journal part of its own, for orchestrators' workers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from pipeline.core.jsonio import read_jsonl
from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.core.runfiles import PARTS
from pipeline.generation.config import GenerateConfig
from pipeline.generation.prompts import request_prompt, request_seed, stop_sequences
from pipeline.generation.store import PartWriter
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.client import Teacher, TeacherConfig


async def fetch(teacher: Teacher, config: GenerateConfig, seeds: Sequence[SeedTask], index: int) -> TeacherResponse:
    """The answer to request `index`: its prompt, stop sequence and seed depend only on the settings and `index`."""
    prompt = request_prompt(seeds, config, index)
    stop = stop_sequences(config.tasks_per_request)
    return await teacher.ask(prompt, stop, request_seed(config.run_seed, index), sample=index)


def fetch_batch(
    config: GenerateConfig,
    teacher_config: TeacherConfig,
    api_key: str,
    seeds: Sequence[SeedTask],
    run_dir: str | Path,
    indices: Sequence[int],
    cache: ResponseCache | None = None,
) -> dict[str, int | None]:
    """Ask for requests `indices` (the teacher's adaptive window in flight, at most `config.max_concurrency`),
    journaling each answer on arrival.

    The part is named after the first index, so a retried batch appends to its own part and skips what it already
    has. Returns counts for the engine: fetched, retries, malformed, and the max_tokens the teacher's context forced
    (context_max_tokens, None when none).
    """
    if not indices:
        return {"fetched": 0, "retries": 0, "malformed": 0, "context_max_tokens": None}
    name = f"{indices[0]:09d}"
    part = Path(run_dir) / PARTS / f"part-{name}.jsonl"
    done = {record["request_index"] for record in read_jsonl(part, recover_tail=True)} if part.exists() else set()
    todo = [index for index in indices if index not in done]
    writer = PartWriter(run_dir, name)

    async def main() -> tuple[int, int, int | None]:
        teacher = Teacher(teacher_config, api_key, cache=cache, max_in_flight=config.max_concurrency)

        async def one(index: int) -> None:
            response = await fetch(teacher, config, seeds, index)
            writer.journal_response({"request_index": index, **response.to_dict()})

        waiting, running = list(reversed(todo)), set()
        try:
            while waiting or running:  # as many in flight as the teacher's adaptive window allows
                while waiting and len(running) < teacher.window.allowed:
                    running.add(asyncio.create_task(one(waiting.pop())))
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a request that failed for good fails the batch
            return teacher.retries, teacher.malformed, teacher.context_max_tokens
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await teacher.aclose()

    try:
        retries, malformed, context_max_tokens = asyncio.run(main())
    finally:
        writer.close()
    return {"fetched": len(todo), "retries": retries, "malformed": malformed, "context_max_tokens": context_max_tokens}
