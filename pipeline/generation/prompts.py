"""The bootstrap prompt (completion and chat forms) that asks the teacher for new tasks."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

from pipeline.core.records import Example, SeedTask

if TYPE_CHECKING:
    from pipeline.generation.config import GenerateConfig

PROMPT_VERSION = "bootstrap-v1"  # names the template files; bump it when their text changes
NO_INPUT = "<noinput>"  # what a demonstration shows when a task needs no input (Alpaca's marker)
BLOCK_SEPARATOR = "###"


@cache
def load_template(name: str) -> str:
    """Read a template shipped in `pipeline/templates/`, e.g. `load_template("bootstrap-v1.txt")`."""
    return resources.files("pipeline").joinpath("templates", name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class BootstrapPrompt:
    """The prompt of one teacher request, in both forms, and where the teacher's answer starts."""

    text: str  # completion form; ends with "{first_index}. Instruction:"
    messages: tuple[dict[str, str], ...]  # chat form: system + user (the same text)
    demonstrations: tuple[str, ...]  # ids of the seed tasks shown
    first_index: int  # number of the first task the teacher writes
    num_tasks: int  # the list length the prompt asks for


def first_task_number(num_demonstrations: int) -> int:
    """The number of the first task the teacher writes: the one after the demonstrations."""
    return num_demonstrations + 1


def format_demonstration(number: int, example: Example) -> str:
    """One numbered demonstration block, without separators.

    >>> format_demonstration(1, Example("Add 2 and 3.", "", "5"))
    '1. Instruction: Add 2 and 3.\\n1. Input:\\n<noinput>\\n1. Output:\\n5'
    """
    task_input = example.input if example.input.strip() else NO_INPUT
    return (
        f"{number}. Instruction: {example.instruction.strip()}\n"
        f"{number}. Input:\n{task_input.strip()}\n"
        f"{number}. Output:\n{example.output.strip()}"
    )


def sample_demonstrations(seeds: Sequence[SeedTask], k: int, rng: random.Random) -> list[SeedTask]:
    """Pick k distinct seed tasks; the caller's rng makes the choice reproducible."""
    if not 1 <= k <= len(seeds):
        raise ValueError(f"num_demonstrations must be between 1 and the number of seed tasks ({len(seeds)}), got {k}")
    return rng.sample(list(seeds), k)


def build_prompt(demonstrations: Sequence[SeedTask], num_tasks: int = 20) -> BootstrapPrompt:
    """Render the bootstrap prompt: requirements, k `###`-separated demonstrations, then task k+1's header."""
    if num_tasks <= len(demonstrations):
        raise ValueError(f"num_tasks ({num_tasks}) must exceed the number of demonstrations ({len(demonstrations)})")
    header = Template(load_template(f"{PROMPT_VERSION}.txt")).substitute(num_tasks=num_tasks)
    blocks = [format_demonstration(n, seed.example) for n, seed in enumerate(demonstrations, start=1)]
    first_index = first_task_number(len(demonstrations))
    text = header
    for block in blocks:
        text += f"{BLOCK_SEPARATOR}\n{block}\n"
    text += f"{BLOCK_SEPARATOR}\n{first_index}. Instruction:"
    system = load_template(f"{PROMPT_VERSION}.system.txt").strip()
    return BootstrapPrompt(
        text=text,
        messages=({"role": "system", "content": system}, {"role": "user", "content": text}),
        demonstrations=tuple(seed.id for seed in demonstrations),
        first_index=first_index,
        num_tasks=num_tasks,
    )


def request_rng(run_seed: int, request_index: int) -> random.Random:
    """The rng of request i: a function of (run seed, i) only, so request i always gets the same prompt."""
    return random.Random(f"{run_seed}:{request_index}")


def prompt_for_request(
    seeds: Sequence[SeedTask], run_seed: int, request_index: int, k: int = 3, num_tasks: int = 20
) -> BootstrapPrompt:
    """The prompt of request `request_index` of a run."""
    return build_prompt(sample_demonstrations(seeds, k, request_rng(run_seed, request_index)), num_tasks)


def request_prompt(seeds: Sequence[SeedTask], config: GenerateConfig, request_index: int) -> BootstrapPrompt:
    """The prompt of request `request_index` of a run with these settings."""
    return prompt_for_request(
        seeds, config.run_seed, request_index, config.num_demonstrations, config.tasks_per_request
    )


def stop_sequences(tasks_per_request: int) -> list[str]:
    """Stop before the teacher starts a task past the requested list length."""
    return [f"{tasks_per_request + 1}. Instruction:"]


def request_seed(run_seed: int, request_index: int) -> int:
    """The `seed` sent with request i, for servers that sample reproducibly with one."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{request_index}".encode()).digest()[:4], "big") >> 1
