"""Generation in rounds, for orchestrators: fetch answers for index ranges in parallel, then process them.

Fetching is the slow, paid, parallel part: request i's prompt depends only on (run seed, i), so any worker
can fetch any range, each into its own journal part. Processing stays sequential and in request order in one
place (a `Generation`), exactly as `pipeline.generation.generate.generate` does it, so the result is the same.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.core.jsonio import read_jsonl
from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import STATS_EVERY_S, request_seed, stop_sequences
from pipeline.generation.processing import GenerateStats, Processor
from pipeline.generation.prompts import prompt_for_request
from pipeline.generation.provenance import build_manifest, run_identity
from pipeline.generation.store import PartWriter, RunStore
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.client import Teacher, TeacherConfig


def fetch_answers(
    config: GenerateConfig,
    teacher_config: TeacherConfig,
    api_key: str,
    seeds: Sequence[SeedTask],
    run_dir: str | Path,
    indices: Sequence[int],
    cache: ResponseCache | None = None,
) -> dict[str, int]:
    """Ask the teacher for requests `indices` (many in flight) and journal each answer as it arrives.

    The part is named after the first index, so a retried batch appends to its own part and skips what it
    already has. Returns counts: fetched, from cache, skipped.
    """
    if not indices:
        return {"fetched": 0, "cache_hits": 0, "skipped": 0}
    name = f"{indices[0]:09d}"
    part_path = Path(run_dir) / "responses" / f"part-{name}.jsonl"
    done = {r["request_index"] for r in read_jsonl(part_path, recover_tail=True)} if part_path.exists() else set()
    todo = [index for index in indices if index not in done]
    writer = PartWriter(run_dir, name)
    stop = stop_sequences(config.tasks_per_request)

    async def main() -> int:
        teacher = Teacher(teacher_config, api_key, cache=cache)
        window = asyncio.Semaphore(config.max_concurrency)

        async def one(index: int) -> bool:
            async with window:
                prompt = prompt_for_request(
                    seeds, config.run_seed, index, config.num_demonstrations, config.tasks_per_request
                )
                response = await teacher.ask(prompt, stop, request_seed(config.run_seed, index), sample=index)
            writer.journal_response({"request_index": index, **response.to_dict()})
            return response.cached

        try:
            return sum(await asyncio.gather(*(one(index) for index in todo)))
        finally:
            await teacher.aclose()

    try:
        hits = asyncio.run(main())
    finally:
        writer.close()
    return {"fetched": len(todo), "cache_hits": hits, "skipped": len(indices) - len(todo)}


class Generation:
    """A run folder advanced in rounds: `missing()` says what to fetch, `advance()` processes what arrived."""

    def __init__(
        self,
        config: GenerateConfig,
        teacher_config: TeacherConfig,
        seed_path: Path,
        seeds: Sequence[SeedTask],
        run_dir: str | Path,
        prices: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.config = config
        self.store = RunStore(run_dir)
        manifest = build_manifest(config, teacher_config, Path(seed_path), seeds)
        identity = run_identity(config, teacher_config, manifest["seed_tasks"]["sha256"])
        checkpoint = self.store.open(manifest, identity)
        self.loop = Processor(config, teacher_config, seeds, self.store, prices or {})
        if checkpoint is not None:
            self.loop.restore(checkpoint)
        self.answers: dict[int, TeacherResponse] = {}
        self._seen: set[int] = set()
        self.loop.absorb(self.store.iter_responses(), self.answers, self._seen)
        self._parts_read = self.store.part_names()  # open() folded the earlier parts into responses.jsonl
        self._checkpointed = time.perf_counter()

    @property
    def stats(self) -> GenerateStats:
        return self.loop.stats

    def advance(self) -> GenerateStats:
        """Read the parts fetchers wrote since the last call, and process answers in order up to the first gap."""
        names = self.store.part_names()
        self.loop.absorb(self.store.read_parts(skip=self._parts_read), self.answers, self._seen)
        self._parts_read = names
        stats, config = self.loop.stats, self.config
        loop = self.loop
        while stats.kept < config.num_instructions and loop.next_index in self.answers:
            if time.perf_counter() - self._checkpointed >= STATS_EVERY_S:
                loop.checkpoint()
                self._checkpointed = time.perf_counter()
            index = loop.next_index
            loop.process(index, loop.prompt(index), self.answers.pop(index))  # processed answers are not kept
            loop.check_stall()
        if stats.kept >= config.num_instructions:
            stats.stopped = "target"
        elif config.max_cost_usd is not None and (stats.cost_usd or 0.0) >= config.max_cost_usd:
            stats.stopped = "max_cost"
        loop.checkpoint()
        self.store.write_stats(stats.to_dict())
        return stats

    @property
    def next_index(self) -> int:
        return self.loop.next_index

    def missing(self, limit: int) -> list[int]:
        """The next request indices without an answer, as many as the target probably still needs (<= limit)."""
        stats, config = self.loop.stats, self.config
        if stats.stopped:
            return []
        per_answer = (
            stats.kept / stats.answers if stats.answers else (config.tasks_per_request - config.num_demonstrations) / 2
        )
        wanted = math.ceil((config.num_instructions - stats.kept) / max(per_answer, 0.5) * 1.1)
        indices, index = [], self.next_index
        cap = config.max_requests if config.max_requests is not None else 2**62
        while len(indices) < min(wanted, limit) and index < cap:
            if index not in self.answers:
                indices.append(index)
            index += 1
        return indices

    def close(self) -> None:
        self.store.write_stats(self.loop.stats.to_dict())
        self.store.close()
