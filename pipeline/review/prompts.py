"""The judge and re-answer prompts (versioned package data, golden-tested), in completion and chat form."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from string import Template
from typing import Literal

from pipeline.core.records import Example
from pipeline.generation.prompts import load_template

JUDGE_VERSION = "judge-v1"  # names the template files; bump it when their text changes
REANSWER_VERSION = "reanswer-v1"
NO_INPUT_SHOWN = "(none)"  # what the judge sees for an example without input

Rubric = Literal["accuracy", "helpfulness", "relevance"]


@dataclass(frozen=True, slots=True)
class Criterion:
    what: str  # "the accuracy of its answer"
    low: str  # what a 0 means
    high: str  # what a 5 means


# AlpaGasus rates accuracy; the other two are the criteria its follow-ups and AlpacaEval-style judges use most.
RUBRICS: dict[str, Criterion] = {
    "accuracy": Criterion(
        "accuracy: is the response a correct, complete answer to the instruction and its input",
        "wrong, empty or unrelated to the instruction", "fully correct and complete",
    ),
    "helpfulness": Criterion(
        "helpfulness to the person who gave the instruction",
        "useless or harmful", "as helpful as a response to this instruction can be",
    ),
    "relevance": Criterion(
        "relevance: does the response address this instruction and its input, and nothing else",
        "about something else entirely", "entirely about this instruction and its input",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReviewPrompt:
    """One review request in both forms (the teacher client's Prompt)."""

    text: str
    messages: tuple[dict[str, str], ...]


def judge_prompt(example: Example, rubric: str) -> ReviewPrompt:
    """Ask for a 0-5 score and a one-sentence rationale of `example` under `rubric`."""
    criterion = RUBRICS[rubric]
    text = Template(load_template(f"{JUDGE_VERSION}.txt")).substitute(
        criterion=criterion.what, low=criterion.low, high=criterion.high, instruction=example.instruction.strip(),
        input=example.input.strip() or NO_INPUT_SHOWN, response=example.output.strip(),
    )  # fmt: skip
    system = load_template(f"{JUDGE_VERSION}.system.txt").strip()
    return ReviewPrompt(text, ({"role": "system", "content": system}, {"role": "user", "content": text}))


def reanswer_prompt(instruction: str, task_input: str) -> ReviewPrompt:
    """Ask for a new response to a kept instruction (and its input)."""
    has_input = bool(task_input.strip())
    text = Template(load_template(f"{REANSWER_VERSION}.txt")).substitute(
        with_input=", paired with an input that provides further context" if has_input else "",
        instruction=instruction.strip(), input_block=f"[Input]\n{task_input.strip()}\n" if has_input else "",
    )  # fmt: skip
    system = load_template(f"{REANSWER_VERSION}.system.txt").strip()
    return ReviewPrompt(text, ({"role": "system", "content": system}, {"role": "user", "content": text}))


def review_key(*parts: str) -> str:
    """The identity of one review request: what was asked (prompt version, rubric, model) about which example.
    The journal is keyed by it, so a grown run reviews only its new examples and a re-run pays for nothing twice."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


def request_seed(key: str) -> int:
    """The `seed` sent with a review request, for servers that sample reproducibly with one."""
    return int(key[:8], 16) >> 1
