"""The bootstrap loop: plan numbered requests, keep several in flight, process answers in request order."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline import __version__
from pipeline.dedup import DEFAULT_THRESHOLD, RougeIndex, Tokenizer
from pipeline.errors import PipelineError
from pipeline.filters import FilterConfig, check_example
from pipeline.parse import parse_answer
from pipeline.prompts import PROMPT_VERSION, BootstrapPrompt, prompt_for_request
from pipeline.records import SeedTask
from pipeline.store import KEPT, REJECTED, RunStore
from pipeline.teacher import Teacher, TeacherConfig, TeacherResponse

log = logging.getLogger(__name__)

NEAR_DUPLICATE = "near_duplicate"


@dataclass(frozen=True, slots=True)
class GenerateConfig:
    """What one generation run makes; together with the seed file and the teacher it fixes the result."""

    num_instructions: int = 52_000  # Alpaca's size
    run_seed: int = 0  # request i's demonstrations depend only on (run_seed, i)
    num_demonstrations: int = 3  # Alpaca shows 3 seed tasks per prompt
    tasks_per_request: int = 20  # the list length a prompt asks for, demonstrations included
    rouge_threshold: float = DEFAULT_THRESHOLD
    tokenizer: Tokenizer = "rouge"  # rouge_score's, for the exact Alpaca rule; "unicode" for non-English data
    top_k_similar: int = 10  # neighbours recorded with each kept example, as Alpaca's regen.json does
    max_concurrency: int = 8  # requests in flight; the teacher's rate limit is the real bound
    max_requests: int | None = None  # a hard cap on paid requests; None: until num_instructions are kept
    stall_requests: int = 50  # give up when this many answers in a row keep nothing: the teacher is not usable
    filters: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        if self.num_instructions < 1:
            raise ValueError(f"num_instructions must be at least 1, got {self.num_instructions}")
        if self.tasks_per_request <= self.num_demonstrations:
            raise ValueError("tasks_per_request must exceed num_demonstrations, or the teacher has nothing to write")
        if not 0.0 < self.rouge_threshold <= 1.0:
            raise ValueError(f"rouge_threshold must be within (0, 1], got {self.rouge_threshold}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")


@dataclass(slots=True)
class GenerateStats:
    """Counts of a run, written to stats.json after every answer."""

    requests: int = 0
    answers: int = 0
    candidates: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    teacher_models: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        data["teacher_models"] = dict(self.teacher_models)
        data["keep_rate"] = self.kept / self.candidates if self.candidates else 0.0
        return data


def stop_sequences(tasks_per_request: int) -> list[str]:
    """Stop before the teacher starts a task past the requested list length."""
    return [f"{tasks_per_request + 1}. Instruction:"]


def request_seed(run_seed: int, request_index: int) -> int:
    """The `seed` sent with request i, for servers that sample reproducibly with one."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{request_index}".encode()).digest()[:4], "big") >> 1


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_manifest(
    config: GenerateConfig, teacher: TeacherConfig, seed_path: Path, seeds: Sequence[SeedTask]
) -> dict[str, Any]:
    """Everything needed to tell how a run was made; never the API key."""
    packages = ("openai", "rouge-score", "rapidfuzz", "numpy")
    return {
        "pipeline_version": __version__,
        "prompt_version": PROMPT_VERSION,
        "generate": asdict(config),
        "teacher": asdict(teacher),
        "seed_tasks": {"path": str(seed_path), "sha256": file_sha256(seed_path), "count": len(seeds)},
        "packages": {name: metadata.version(name) for name in packages},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


class _Loop:
    """State of one run while answers are processed in request order."""

    def __init__(self, config: GenerateConfig, seeds: Sequence[SeedTask], store: RunStore) -> None:
        self.config = config
        self.seeds = seeds
        self.store = store
        self.stats = GenerateStats()
        self.index = RougeIndex(config.rouge_threshold, config.tokenizer)
        for seed in seeds:  # seeds are in the pool: a task too close to a seed is not new
            self.index.add(seed.instruction)
        self.unproductive = 0

    def prompt(self, request_index: int) -> BootstrapPrompt:
        config = self.config
        return prompt_for_request(
            self.seeds, config.run_seed, request_index, config.num_demonstrations, config.tasks_per_request
        )

    def process(self, request_index: int, prompt: BootstrapPrompt, response: TeacherResponse) -> None:
        stats, config = self.stats, self.config
        stats.answers += 1
        stats.prompt_tokens += response.prompt_tokens
        stats.completion_tokens += response.completion_tokens
        stats.teacher_models[response.model] += 1
        kept_before = stats.kept
        items = parse_answer(response.text, response.finish_reason, prompt.first_index)
        for position, item in enumerate(items):
            if stats.kept >= config.num_instructions:
                break
            stats.candidates += 1
            where = {"request_index": request_index, "position": position}
            example = item.example
            reason = item.reason or check_example(example, config.filters)
            if reason is not None:
                self.reject(reason, item.raw, where, example.to_dict() if example else {})
                continue
            novelty = self.index.add_if_novel(example.instruction, config.top_k_similar)
            similar = [{"instruction": text, "score": score} for text, score in novelty.most_similar]
            if not novelty.is_novel:
                self.reject(
                    NEAR_DUPLICATE, item.raw, where,
                    {**example.to_dict(), "max_rouge_l": novelty.max_score, "most_similar_instructions": similar[:3]},
                )  # fmt: skip
                continue
            stats.kept += 1
            self.store.append(
                KEPT,
                {
                    **example.to_dict(),
                    "max_rouge_l": novelty.max_score,
                    "most_similar_instructions": similar,
                    **where,
                    "teacher_model": response.model,
                    "prompt_version": PROMPT_VERSION,
                },
            )
        self.unproductive = 0 if stats.kept > kept_before else self.unproductive + 1
        self.store.sync()

    def reject(self, reason: str, raw: str, where: dict[str, int], fields: dict[str, Any]) -> None:
        self.stats.rejected[reason] += 1
        self.store.append(REJECTED, {"reason": reason, **where, **fields, "raw": raw})


async def _run(loop: _Loop, teacher: Teacher, progress: bool) -> GenerateStats:
    config, stats = loop.config, loop.stats
    started = time.perf_counter()
    stop = stop_sequences(config.tasks_per_request)
    in_flight: dict[int, tuple[BootstrapPrompt, asyncio.Task[TeacherResponse]]] = {}
    next_request = 0
    bar = tqdm(total=config.num_instructions, unit="example", desc="kept", disable=not progress, dynamic_ncols=True)
    try:
        for request_index in range(config.max_requests or 2**62):
            if stats.kept >= config.num_instructions:
                break
            # Top up the window; answers may come back in any order, but are used strictly in request order.
            while len(in_flight) < config.max_concurrency and (
                config.max_requests is None or next_request < config.max_requests
            ):
                prompt = loop.prompt(next_request)
                seed = request_seed(config.run_seed, next_request)
                in_flight[next_request] = (prompt, asyncio.create_task(teacher.ask(prompt, stop, seed)))
                next_request += 1
                stats.requests += 1
            prompt, task = in_flight.pop(request_index)
            loop.process(request_index, prompt, await task)
            stats.elapsed_s = time.perf_counter() - started
            loop.store.write_stats(stats.to_dict())
            bar.update(stats.kept - bar.n)
            bar.set_postfix(requests=stats.answers, keep_rate=f"{stats.kept / max(stats.candidates, 1):.0%}")
            if loop.unproductive >= config.stall_requests:
                raise PipelineError(
                    f"the last {loop.unproductive} answers kept nothing: the teacher's output is not usable "
                    f"(see the reasons in {loop.store.root / REJECTED})"
                )
        else:
            log.warning("stopped at max_requests=%d with %d of %d examples kept",
                        config.max_requests, stats.kept, config.num_instructions)  # fmt: skip
    finally:
        bar.close()
        for _, task in in_flight.values():
            task.cancel()
        await asyncio.gather(*(task for _, task in in_flight.values()), return_exceptions=True)
        # Requests cancelled before their answer was used were sent but not counted as answered.
    stats.finished = stats.kept >= config.num_instructions
    stats.elapsed_s = time.perf_counter() - started
    return stats


def generate(
    config: GenerateConfig,
    teacher_config: TeacherConfig,
    api_key: str,
    seed_path: Path,
    seeds: Sequence[SeedTask],
    output_dir: str | Path,
    progress: bool = True,
) -> GenerateStats:
    """Run the bootstrap loop into `output_dir` (kept.jsonl, rejected.jsonl, stats.json, manifest.json)."""
    store = RunStore(output_dir)
    store.create(build_manifest(config, teacher_config, Path(seed_path), seeds))
    loop = _Loop(config, seeds, store)

    async def main() -> GenerateStats:
        teacher = Teacher(teacher_config, api_key)
        try:
            return await _run(loop, teacher, progress)
        finally:
            await teacher.aclose()

    try:
        stats = asyncio.run(main())
    finally:
        store.write_stats(loop.stats.to_dict())
        store.close()
    return stats
