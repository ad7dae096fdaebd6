"""Asking a model one independent question per example, journaled: the machinery judge and re-answer share.

Each request has a key (what was asked about which example). Answers are journaled durably on arrival, so after a
crash or Ctrl-C the same command asks only what the journal lacks: nothing journaled is paid for twice. Before the
first request the work is projected (requests, tokens, dollars); `max_cost` is enforced before each request starts,
reserving the worst case (its prompt and `max_tokens`, at the model's price) while it is in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.core.jsonio import append_durably, cut_torn_tail, read_jsonl, write_json_atomic
from pipeline.core.records import TeacherResponse
from pipeline.review.prompts import ReviewPrompt, request_seed
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.config import TeacherConfig
from pipeline.teacher.cost import cost_usd, require_price

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4  # for the projection only: the bill uses the server's counts


@dataclass(frozen=True, slots=True)
class Request:
    key: str
    prompt: ReviewPrompt
    about: dict[str, Any]  # what the journal record keeps beside the answer (the example, where it came from)


@dataclass(slots=True)
class ReviewStats:
    """Counters of one review session; `stopped` says why it ended early ("max_cost"), None when all was done."""

    task: str
    model: str
    items: int = 0  # requests the run needs in all
    done_before: int = 0  # already in the journal when this session started
    answered: int = 0  # journaled this session
    cache_hits: int = 0
    paid_requests: int = 0
    paid_prompt_tokens: int = 0
    paid_completion_tokens: int = 0
    cost_usd: float | None = None
    retries: int = 0
    elapsed_s: float = 0.0
    stopped: str | None = None
    projection: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parts_folder(journal: Path) -> Path:
    """Where batch tasks journal their share of the requests (`<journal stem>.parts/part-*.jsonl`)."""
    return journal.with_name(f"{journal.stem}.parts")


def journaled_keys(journal: Path) -> set[str]:
    """Keys answered in `journal` and in its batch parts; a line cut short by a crash is cut off first (it was
    never a whole answer)."""
    keys: set[str] = set()
    for path in [journal, *sorted(parts_folder(journal).glob("part-*.jsonl"))]:
        if path.exists():
            cut_torn_tail(path)
            keys |= {record["key"] for record in read_jsonl(path)}
    return keys


def fold_parts(journal: Path) -> None:
    """Move the batch parts' answers into the journal (each key once), so a folder looks the same whoever asked."""
    folder = parts_folder(journal)
    if not folder.is_dir():
        return
    known = {record["key"] for record in read_jsonl(journal, recover_tail=True)} if journal.exists() else set()
    with open(journal, "a", encoding="utf-8") as handle:
        for path in sorted(folder.glob("part-*.jsonl")):
            cut_torn_tail(path)
            fresh = [record for record in read_jsonl(path) if record["key"] not in known]
            known |= {record["key"] for record in fresh}
            append_durably(handle, fresh)
            path.unlink()
    folder.rmdir()


def project(requests: Sequence[Request], teacher: TeacherConfig, prices: dict[str, tuple[float, float]]) -> dict:
    """What the requests will cost at most: prompt tokens (estimated), completion tokens (max_tokens each)."""
    prompt_tokens = sum(len(request.prompt.text) // CHARS_PER_TOKEN + 1 for request in requests)
    completion_tokens = len(requests) * teacher.max_tokens
    most = cost_usd(prices, teacher.model, prompt_tokens, completion_tokens)
    return {"requests": len(requests), "prompt_tokens": prompt_tokens, "max_completion_tokens": completion_tokens,
            "max_cost_usd": None if most is None else round(most, 4)}  # fmt: skip


def run_requests(
    task: str,
    requests: Sequence[Request],
    teacher_config: TeacherConfig,
    api_key: str,
    journal: Path,
    record: Callable[[Request, TeacherResponse], dict[str, Any]],
    *,
    concurrency: int = 16,
    max_cost: float | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    cache: ResponseCache | None = None,
    progress: bool = True,
    **_: Any,  # the batch path's options (poll_s)
) -> ReviewStats:
    """Ask what `journal` lacks of `requests`, `concurrency` at a time, journaling `record(request, answer)` for each.

    Raises:
        PipelineError: `max_cost` without a price for the model (pass a price table).
        TeacherError: the teacher failed in a way a retry cannot fix; what was journaled stays.
    """
    from pipeline.teacher.client import Teacher  # the HTTP client loads only when there is work

    prices = prices or {}
    require_price(prices, teacher_config.model, max_cost)
    priced = teacher_config.model in prices
    done = journaled_keys(journal)
    todo = [request for request in requests if request.key not in done]
    stats = ReviewStats(task, teacher_config.model, items=len(requests), done_before=len(requests) - len(todo))
    stats.cost_usd = 0.0 if priced else None
    stats.projection = project(todo, teacher_config, prices)
    log.info("%s: %d of %d to ask (%d journaled); at most %s prompt + %s completion tokens%s", task, len(todo),
             len(requests), stats.done_before, f"{stats.projection['prompt_tokens']:,}",
             f"{stats.projection['max_completion_tokens']:,}",
             f", ${stats.projection['max_cost_usd']:.2f}" if priced else " (unpriced model)")  # fmt: skip
    if not todo:
        return stats
    journal.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def worst_case(request: Request) -> float:
        tokens = len(request.prompt.text) // CHARS_PER_TOKEN + 1
        return cost_usd(prices, teacher_config.model, tokens, teacher_config.max_tokens) or 0.0

    async def main(handle: Any) -> None:
        teacher = Teacher(teacher_config, api_key, cache=cache)
        bar = tqdm(total=len(requests), initial=stats.done_before, unit="example", desc=task, disable=not progress,
                   dynamic_ncols=True)  # fmt: skip
        reserved: dict[str, float] = {}
        in_flight: dict[asyncio.Task[TeacherResponse], Request] = {}
        pending = iter(todo)
        failed: BaseException | None = None

        def settle(request: Request, response: TeacherResponse) -> None:
            reserved.pop(request.key, None)
            append_durably(handle, [record(request, response)])
            stats.answered += 1
            stats.cache_hits += response.cached
            if not response.cached:
                stats.paid_requests += 1
                stats.paid_prompt_tokens += response.prompt_tokens
                stats.paid_completion_tokens += response.completion_tokens
                cost = cost_usd(prices, teacher_config.model, response.prompt_tokens, response.completion_tokens)
                if cost is not None:
                    stats.cost_usd = (stats.cost_usd or 0.0) + cost
            bar.update(1)
            if stats.cost_usd is not None:
                bar.set_postfix({"$": f"{stats.cost_usd:.2f}", "in_flight": teacher.in_flight}, refresh=False)

        try:
            while True:
                while failed is None and stats.stopped is None and len(in_flight) < concurrency:
                    request = next(pending, None)
                    if request is None:
                        break
                    worst = worst_case(request)
                    if max_cost is not None and (stats.cost_usd or 0.0) + sum(reserved.values()) + worst > max_cost:
                        stats.stopped = "max_cost"  # this request could cross the budget: start no more
                        break
                    reserved[request.key] = worst
                    seed = request_seed(request.key)
                    in_flight[asyncio.ensure_future(teacher.ask(request.prompt, [], seed))] = request
                if not in_flight:
                    break
                finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    request = in_flight.pop(future)
                    if future.exception() is not None:
                        failed = failed or future.exception()
                        reserved.pop(request.key, None)
                    else:
                        settle(request, future.result())
        finally:  # after a failure the loop waited for (and journaled) the rest; only an interruption gets here
            for future in in_flight:
                future.cancel()
            stats.retries += teacher.retries
            bar.close()
            await teacher.aclose()
        if failed is not None:
            raise failed

    with open(journal, "a", encoding="utf-8") as handle:
        try:
            asyncio.run(main(handle))
        finally:
            stats.elapsed_s = time.perf_counter() - started
    return stats


@dataclass(frozen=True, slots=True)
class Plan:
    """A review's requests, how each answer becomes a journal record, and where the journal and its stats go."""

    task: str
    requests: list[Request]
    record: Callable[[Request, TeacherResponse], dict[str, Any]]
    journal: Path

    def finish(self, extra: Callable[[Path], dict[str, Any]], stats: ReviewStats) -> None:
        """Fold batch parts into the journal and write its stats file."""
        fold_parts(self.journal)
        write_stats(self.journal.with_suffix(".stats.json"), stats, extra(self.journal))

    def run(self, teacher_config: TeacherConfig, api_key: str, extra: Callable[[Path], dict[str, Any]],
            batch: bool = False, **options: Any) -> ReviewStats:  # fmt: skip
        """Ask what the journal lacks, online or through the Batch API (half the price, answers within 24 h), then
        `finish`. `options`: those of `run_requests` (concurrency, max_cost, prices, cache, progress, poll_s)."""
        run = run_requests_batched if batch else run_requests
        stats = run(self.task, self.requests, teacher_config, api_key, self.journal, self.record, **options)
        self.finish(extra, stats)
        return stats


def run_requests_batched(
    task: str,
    requests: Sequence[Request],
    teacher_config: TeacherConfig,
    api_key: str,
    journal: Path,
    record: Callable[[Request, TeacherResponse], dict[str, Any]],
    *,
    max_cost: float | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    progress: bool = True,
    poll_s: float = 5.0,
    **_: Any,
) -> ReviewStats:
    """`run_requests` through the Batch API (pipeline/teacher/batch.py): half the price; what the journal lacks
    goes out as batches, a batch left by a killed run is collected first, failed lines go into the next round."""
    from collections import Counter

    from pipeline.core.errors import TeacherError
    from pipeline.teacher.batch import BATCH_DISCOUNT, BatchItem, BatchRunner

    prices = prices or {}
    require_price(prices, teacher_config.model, max_cost)
    priced = teacher_config.model in prices
    done = journaled_keys(journal)
    by_key = {request.key: request for request in requests}
    stats = ReviewStats(task, teacher_config.model, items=len(requests), done_before=len(by_key.keys() & done))
    stats.cost_usd = 0.0 if priced else None
    stats.projection = project([r for r in requests if r.key not in done], teacher_config, prices)
    if stats.projection["max_cost_usd"] is not None:
        stats.projection["max_cost_usd"] = round(stats.projection["max_cost_usd"] * BATCH_DISCOUNT, 4)
    journal.parent.mkdir(parents=True, exist_ok=True)
    runner = BatchRunner(teacher_config, api_key, journal.with_suffix(".batches.jsonl"), poll_s=poll_s,
                         progress=progress)  # fmt: skip
    failures: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        with open(journal, "a", encoding="utf-8") as handle:
            runner.check_model()
            while True:
                for event in runner.open_batches():
                    collected = runner.collect(event)
                    for key, response in collected.answers.items():
                        if key in by_key and key not in done:
                            append_durably(handle, [record(by_key[key], response)])
                            done.add(key)
                            stats.answered += 1
                            stats.paid_requests += 1
                            stats.paid_prompt_tokens += response.prompt_tokens
                            stats.paid_completion_tokens += response.completion_tokens
                            cost = cost_usd(prices, teacher_config.model, response.prompt_tokens,
                                            response.completion_tokens)  # fmt: skip
                            if cost is not None:
                                stats.cost_usd = (stats.cost_usd or 0.0) + cost * BATCH_DISCOUNT
                    for key, reason in collected.failed.items():
                        failures[key] += 1
                        if failures[key] > teacher_config.max_retries:
                            raise TeacherError(f"{task}: a request failed in {failures[key]} batches ({reason}); the "
                                               "journal keeps every answer so far")  # fmt: skip
                todo = [request for request in requests if request.key not in done]
                if max_cost is not None:
                    left, fitting = max_cost - (stats.cost_usd or 0.0), []
                    for request in todo:
                        tokens = len(request.prompt.text) // CHARS_PER_TOKEN + 1
                        worst = cost_usd(prices, teacher_config.model, tokens, teacher_config.max_tokens) or 0.0
                        if worst * BATCH_DISCOUNT > left:
                            stats.stopped = "max_cost"
                            break
                        left -= worst * BATCH_DISCOUNT
                        fitting.append(request)
                    todo = fitting
                if not todo:
                    break
                runner.submit([BatchItem(r.key, r.prompt, [], request_seed(r.key)) for r in todo])
    finally:
        runner.close()
        stats.elapsed_s = time.perf_counter() - started
    return stats


def write_stats(path: Path, stats: ReviewStats, extra: dict[str, Any]) -> None:
    write_json_atomic(path, {**stats.to_dict(), **extra})
