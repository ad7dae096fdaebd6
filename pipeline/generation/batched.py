"""The Batch API driver of the engine: rounds of batches instead of requests in flight, at half the price.

Each round asks for what the target still needs (by the keep rate so far), as batches of numbered requests whose
prompts are the online ones; when a batch ends, its answers are journaled and used in request order, so the run
folder ends exactly as an online run with the same settings. Failed or unanswered lines go into the next round, up
to `max_retries` rounds each. `max_cost` is checked before each submission against the round's worst case.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.core.errors import TeacherError
from pipeline.core.records import SeedTask
from pipeline.core.runfiles import BATCHES
from pipeline.generation.config import GenerateConfig
from pipeline.generation.engine import Engine
from pipeline.generation.processing import GenerateStats
from pipeline.generation.prompts import request_prompt, request_seed, stop_sequences
from pipeline.teacher.batch import BATCH_DISCOUNT, MAX_LINES, BatchItem, BatchRunner
from pipeline.teacher.config import TeacherConfig
from pipeline.teacher.cost import cost_usd

log = logging.getLogger(__name__)

KEY_PREFIX = "request-"


def generate_batched(
    config: GenerateConfig,
    teacher_config: TeacherConfig,
    api_key: str,
    seed_path: Path,
    seeds: Sequence[SeedTask],
    output_dir: str | Path,
    prices: dict[str, tuple[float, float]] | None = None,
    progress: bool = True,
    poll_s: float = 5.0,
    on_poll: Callable[[str, int, int], None] | None = None,
) -> GenerateStats:
    """Run (or continue) generation in `output_dir` through the Batch API until a stop rule."""
    prices = prices or {}
    engine = Engine(config, teacher_config, seed_path, seeds, output_dir, prices, price_factor=BATCH_DISCOUNT)
    runner = BatchRunner(teacher_config, api_key, Path(output_dir) / BATCHES, poll_s=poll_s, progress=progress,
                         on_poll=on_poll)  # fmt: skip
    failures: Counter[int] = Counter()
    try:
        runner.check_model()
        while True:
            for event in runner.open_batches():  # a batch left by a killed run first: never submitted twice
                collected = runner.collect(event)
                for key, response in sorted(collected.answers.items(), key=lambda item: _index(item[0])):
                    engine.receive(_index(key), response)
                for key, reason in collected.failed.items():
                    failures[_index(key)] += 1
                    if failures[_index(key)] > teacher_config.max_retries:
                        raise TeacherError(f"request {_index(key)} failed in {failures[_index(key)]} batches "
                                           f"({reason}); the run folder keeps everything else")  # fmt: skip
            stats = engine.advance()
            if stats.stopped:
                break
            indices = engine.wanted(MAX_LINES, probe_first=False)
            if config.max_cost_usd is not None:
                indices = _within_budget(indices, engine, teacher_config, seeds, config, prices)
                if not indices:
                    stats.stopped = "max_cost"
                    break
            if not indices:
                break
            items = [BatchItem(f"{KEY_PREFIX}{index}", request_prompt(seeds, config, index),
                               stop_sequences(config.tasks_per_request), request_seed(config.run_seed, index))
                     for index in indices]  # fmt: skip
            runner.submit(items)
    finally:
        runner.close()
        engine.close()
    return engine.stats


def _index(key: str) -> int:
    return int(key.removeprefix(KEY_PREFIX))


def _within_budget(indices: list[int], engine: Engine, teacher: TeacherConfig, seeds: Sequence[SeedTask],
                   config: GenerateConfig, prices: dict[str, tuple[float, float]]) -> list[int]:  # fmt: skip
    """The first requests of `indices` whose worst case (prompt + max_tokens, at the batch price) fits the budget."""
    left = (config.max_cost_usd or 0.0) - (engine.stats.cost_usd or 0.0)
    chosen = []
    for index in indices:
        tokens = len(request_prompt(seeds, config, index).text) // 4 + 1
        worst = (cost_usd(prices, teacher.model, tokens, teacher.max_tokens) or 0.0) * BATCH_DISCOUNT
        if worst > left:
            break
        left -= worst
        chosen.append(index)
    return chosen
