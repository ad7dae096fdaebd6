"""The bootstrap loop: plan numbered requests, keep many in flight, process answers strictly in request order.

Request i's prompt depends only on (run seed, i), and answers are used in request order whatever order they
arrive in, so a run's result depends only on its settings and the teacher's answers. Every answer is
journaled on arrival; running the same command again replays the journal (no request is paid twice) and
continues where the last session stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.cache import ResponseCache
from pipeline.cost import cost_usd
from pipeline.dedup import DEFAULT_THRESHOLD, RougeIndex, Tokenizer
from pipeline.errors import PipelineError
from pipeline.filters import FilterConfig, check_example
from pipeline.parse import parse_answer
from pipeline.prompts import PROMPT_VERSION, BootstrapPrompt, prompt_for_request
from pipeline.provenance import build_manifest, run_identity
from pipeline.records import SeedTask
from pipeline.store import KEPT, REJECTED, RunStore
from pipeline.teacher import Teacher, TeacherConfig, TeacherResponse

log = logging.getLogger(__name__)

NEAR_DUPLICATE = "near_duplicate"
STATS_EVERY_S = 1.0  # how often stats.json is rewritten during a run
_PROCESSING_COUNTS = ("answers", "candidates", "kept", "prompt_tokens", "completion_tokens")  # in checkpoints


@dataclass(frozen=True, slots=True)
class GenerateConfig:
    """What one generation run makes; with the seed file and the teacher's decoding it fixes the result."""

    num_instructions: int = 52_000  # Alpaca's size
    run_seed: int = 0  # request i's demonstrations depend only on (run_seed, i)
    num_demonstrations: int = 3  # Alpaca shows 3 seed tasks per prompt
    tasks_per_request: int = 20  # the list length a prompt asks for, demonstrations included
    rouge_threshold: float = DEFAULT_THRESHOLD
    tokenizer: Tokenizer = "rouge"  # rouge_score's, for the exact Alpaca rule; "unicode" for non-English data
    top_k_similar: int = 10  # neighbours recorded with each kept example, as Alpaca's regen.json does
    max_concurrency: int = 16  # requests in flight; the rpm/tpm budgets are the real bound on a paid API
    max_requests: int | None = None  # a hard cap on request indices; None: until num_instructions are kept
    max_cost_usd: float | None = None  # stop cleanly (resumable) once this much is spent; None: no budget
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

    answers: int = 0  # answers processed, in request order
    candidates: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0  # of the answers processed
    completion_tokens: int = 0
    cost_usd: float | None = None  # of every answer paid for in any session of this run; None: no price known
    paid_requests: int = 0  # answers that came from the network, in any session
    new_requests: int = 0  # answers fetched in this session (network or cache)
    cache_hits: int = 0  # of those, served by the response cache
    retries: int = 0
    teacher_models: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    processing_s: float = 0.0  # time spent parsing, filtering, checking novelty and journaling, not waiting
    stopped: str = ""  # "target", "max_cost", "max_requests"

    @property
    def finished(self) -> bool:
        return self.stopped == "target"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        data["teacher_models"] = dict(self.teacher_models)
        data["keep_rate"] = self.kept / self.candidates if self.candidates else 0.0
        data["finished"] = self.finished
        return data


def stop_sequences(tasks_per_request: int) -> list[str]:
    """Stop before the teacher starts a task past the requested list length."""
    return [f"{tasks_per_request + 1}. Instruction:"]


def request_seed(run_seed: int, request_index: int) -> int:
    """The `seed` sent with request i, for servers that sample reproducibly with one."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{request_index}".encode()).digest()[:4], "big") >> 1


class _Loop:
    """State of one run while answers are processed in request order."""

    def __init__(
        self,
        config: GenerateConfig,
        teacher_config: TeacherConfig,
        seeds: Sequence[SeedTask],
        store: RunStore,
        prices: dict[str, tuple[float, float]],
    ) -> None:
        self.config = config
        self.teacher_config = teacher_config
        self.seeds = seeds
        self.store = store
        self.prices = prices
        self.stats = GenerateStats()
        self.index = RougeIndex(config.rouge_threshold, config.tokenizer)
        self.index.extend(seed.instruction for seed in seeds)  # a task too close to a seed is not new
        self.unproductive = 0
        self.next_index = 0  # the first request whose answer is not processed yet
        self.cut_short = False  # the last answer was only partly used because the target was reached

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint: counts as they were, and the pool rebuilt from the kept examples."""
        saved = checkpoint["stats"]
        stats = self.stats
        for name in _PROCESSING_COUNTS:
            setattr(stats, name, saved[name])
        stats.rejected = Counter(saved["rejected"])
        stats.teacher_models = Counter(saved["teacher_models"])
        self.unproductive = checkpoint["unproductive"]
        self.next_index = checkpoint["next_index"]
        with open(self.store.root / KEPT, encoding="utf-8") as kept:  # streamed: 52K records with neighbours
            self.index.extend(json.loads(line)["instruction"] for line in kept)

    def checkpoint(self) -> None:
        """Record the state after the answers before `next_index` (only at a whole-answer boundary)."""
        if self.cut_short:
            return
        stats = self.stats
        saved = {name: getattr(stats, name) for name in _PROCESSING_COUNTS}
        saved |= {"rejected": dict(stats.rejected), "teacher_models": dict(stats.teacher_models)}
        self.store.write_checkpoint({"next_index": self.next_index, "unproductive": self.unproductive, "stats": saved})

    def prompt(self, request_index: int) -> BootstrapPrompt:
        config = self.config
        return prompt_for_request(
            self.seeds, config.run_seed, request_index, config.num_demonstrations, config.tasks_per_request
        )

    def absorb(self, records: Iterable[dict[str, Any]], answers: dict[int, TeacherResponse], seen: set[int]) -> int:
        """Take journaled answers: charge each once, and keep in `answers` those not processed yet."""
        count = 0
        for record in records:
            index = record["request_index"]
            if index in seen:
                continue
            seen.add(index)
            count += 1
            fields = {name: value for name, value in record.items() if name != "request_index"}
            self.count_payment(TeacherResponse(**fields))  # as first received: paid unless it came from the cache
            if index >= self.next_index:
                answers[index] = TeacherResponse.from_dict(fields, cached=True)
        return count

    def check_stall(self) -> None:
        if self.unproductive >= self.config.stall_requests:
            raise PipelineError(
                f"the last {self.unproductive} answers kept nothing: the teacher's output is not usable "
                f"(see the reasons in {self.store.root / REJECTED})"
            )

    def count_payment(self, response: TeacherResponse) -> None:
        """Charge an answer that came from the network (in this session or an earlier one)."""
        if response.cached:
            return
        self.stats.paid_requests += 1
        cost = cost_usd(self.prices, self.teacher_config.model, response.prompt_tokens, response.completion_tokens)
        if cost is not None:
            self.stats.cost_usd = (self.stats.cost_usd or 0.0) + cost

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
                self.cut_short = True
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
            annotated = {**example.to_dict(), "max_rouge_l": novelty.max_score, "most_similar_instructions": similar}
            if not novelty.is_novel:
                self.reject(NEAR_DUPLICATE, item.raw, where, annotated)
                continue
            stats.kept += 1
            provenance = {"teacher_model": response.model, "prompt_version": PROMPT_VERSION}
            self.store.append(KEPT, {**annotated, **where, **provenance})
        self.unproductive = 0 if stats.kept > kept_before else self.unproductive + 1
        self.next_index = request_index + 1
        self.store.sync()

    def reject(self, reason: str, raw: str, where: dict[str, int], fields: dict[str, Any]) -> None:
        self.stats.rejected[reason] += 1
        self.store.append(REJECTED, {"reason": reason, **where, **fields, "raw": raw})


async def _run(loop: _Loop, teacher: Teacher, journaled: dict[int, TeacherResponse], progress: bool) -> GenerateStats:
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
    loop = _Loop(config, teacher_config, seeds, store, prices or {})
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
