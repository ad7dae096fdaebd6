"""What a run is: the settings that fix its result, the manifest written beside it, and its cost forecast."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.core.records import SeedTask
from pipeline.generation.prompts import PROMPT_VERSION, prompt_for_request
from pipeline.teacher.cost import cost_usd

if TYPE_CHECKING:
    from pipeline.generation.config import GenerateConfig
    from pipeline.teacher.client import TeacherConfig

UNPRICED = "unpriced"  # what the manifest, stats and card say of a model without a known price
ASSUMED_KEEP_RATE = 0.5  # for the cost projection before any answer: Alpaca kept ~60% of parsed tasks
ASSUMED_TOKENS_PER_TASK = 80  # ~60 words of instruction, input and output


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_identity(config: GenerateConfig, teacher: TeacherConfig, seed_sha256: str) -> dict[str, Any]:
    """The settings that fix a run's result; a run folder may only be continued with the same ones."""
    settings = asdict(config)
    for free in ("num_instructions", "max_concurrency", "max_requests", "max_cost_usd", "stall_requests"):
        settings.pop(free)  # these say how far to go or how fast, not what is made
    identity = {"generate": settings, "teacher": teacher.decoding(), "seed_tasks_sha256": seed_sha256,
                "prompt_version": PROMPT_VERSION}  # fmt: skip
    return json.loads(json.dumps(identity))  # as stored in manifest.json: tuples become lists


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


def project_cost(
    config: GenerateConfig, teacher: TeacherConfig, seeds: Sequence[SeedTask], prices: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """A rough forecast before the first request, from assumed task length and keep rate."""
    new_tasks = config.tasks_per_request - config.num_demonstrations
    prompt_tokens = len(prompt_for_request(seeds, config.run_seed, 0, config.num_demonstrations).text) // 4
    completion_tokens = min(teacher.max_tokens, new_tasks * ASSUMED_TOKENS_PER_TASK)
    requests = -(-config.num_instructions // max(1, int(new_tasks * ASSUMED_KEEP_RATE)))
    tokens = requests * (prompt_tokens + completion_tokens)
    cost = cost_usd(prices, teacher.model, requests * prompt_tokens, requests * completion_tokens)
    return {"requests": requests, "tokens": tokens, "cost_usd": cost}


def pricing(prices: dict[str, tuple[float, float]], model: str) -> dict[str, Any] | str:
    """The price the run's dollars are counted at, or "unpriced": a local model is never priced as another one.

    >>> pricing({"gpt-4o-mini": (0.15, 0.6)}, "gpt-4o-mini"), pricing({}, "SmolLM2")
    ({'model': 'gpt-4o-mini', 'input_usd_per_1m': 0.15, 'output_usd_per_1m': 0.6}, 'unpriced')
    """
    price = prices.get(model)
    if price is None:
        return UNPRICED
    return {"model": model, "input_usd_per_1m": price[0], "output_usd_per_1m": price[1]}


def project_from_run(
    target: int, kept: int, answers: int, prompt_tokens: int, completion_tokens: int, price: tuple[float, float] | None
) -> dict[str, Any]:
    """The forecast re-made from what the run has seen: requests at the yield of kept examples per answer so far,
    tokens and dollars at the used answers' average (cached ones included). Empty before anything is kept.

    >>> project_from_run(100, 10, 5, 3000, 2000, None)
    {'requests': 50, 'tokens': 50000, 'cost_usd': None, 'from_answers': 5}
    """
    if not answers or not kept:
        return {}
    requests = answers + math.ceil(max(target - kept, 0) * answers / kept)
    prompt, completion = prompt_tokens * requests / answers, completion_tokens * requests / answers
    dollars = (prompt * price[0] + completion * price[1]) / 1_000_000 if price is not None else None
    return {"requests": requests, "tokens": round(prompt + completion), "cost_usd": dollars, "from_answers": answers}
