"""The simulated teacher as a judge and as a re-answering teacher: it reads the review prompts' sections as a real
model would read them, and answers deterministically. Its scores follow the defects the simulator itself injects
(empty, placeholder, off-topic and leaked outputs; inputs pointing at missing content), so a test can check that a
score threshold removes them; the rest score 3-5 by a fixed draw. It writes its scores in the forms real judges do
("Score: 4.5", "4/5 - ...", JSON) and now and then not at all, for the parser to handle."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import replace

from pipeline.simulator import grammar

JUDGE_SECTIONS = re.compile(r"\[Instruction\]\n(.*?)\n\[Input\]\n(.*?)\n\[Response\]\n(.*?)\n\[End\]", re.S)
PAIR_SECTIONS = re.compile(
    r"\[Instruction\]\n(.*?)\n\[Input\]\n(.*?)\n\[Answer A\]\n(.*?)\n\[Answer B\]\n(.*?)\n\[End\]", re.S
)
REANSWER_SECTIONS = re.compile(r"\[Task\]\n(.*?)\n(?:\[Input\]\n(.*?)\n)?\[Answer\]\s*$", re.S)
NO_INPUT_SHOWN = "(none)"

OFF_TOPIC_OUTPUTS = (
    "Bananas are a good source of potassium and make an easy snack.",
    "The weather in Lisbon is usually mild in spring, with some rain in April.",
    "My favourite board game is chess, because every game is different.",
    "Remember to water houseplants less often in winter.",
    "The train to the airport leaves every twenty minutes from platform two.",
)  # answers to some other question: well-formed text that no rule filter can tell from a real answer
PLACEHOLDERS = {"n/a", "na", "none", "<nooutput>", "<no output>", "no output", "<none>"}
_MISSING_CONTENT = re.compile(r"https?://|www\.|<image>|<img |\[attached|<attachment", re.I)


def with_off_topic_outputs(blocks: Sequence[grammar.Block], rng: random.Random, share: float) -> list[grammar.Block]:
    """Give about `share` of the tasks an answer to some other question."""
    return [
        replace(block, example=replace(block.example, output=rng.choice(OFF_TOPIC_OUTPUTS)))
        if block.has_output and rng.random() < share
        else block
        for block in blocks
    ]


def review_answer(prompt_text: str, rng: random.Random) -> str | None:
    """The answer to a judge or re-answer prompt; None when the prompt is neither (a bootstrap prompt)."""
    if pair := PAIR_SECTIONS.search(prompt_text):
        instruction, _, first, second = (part.strip() for part in pair.groups())
        return pairwise(instruction, first, second)
    if judged := JUDGE_SECTIONS.search(prompt_text):
        instruction, task_input, response = (part.strip() for part in judged.groups())
        return judgement(instruction, "" if task_input == NO_INPUT_SHOWN else task_input, response, rng)
    if asked := REANSWER_SECTIONS.search(prompt_text):
        return reanswer(asked.group(1).strip(), (asked.group(2) or "").strip())
    return None


def assess(instruction: str, task_input: str, response: str, rng: random.Random) -> tuple[float, str]:
    """A score and its reason: the defects the simulator injects score low; the rest 3-5 by a fixed draw."""
    if not response:
        return 0.0, "The response is empty."
    if response.lower() in PLACEHOLDERS:
        return 1.0, "The response is a placeholder, not an answer."
    if response in OFF_TOPIC_OUTPUTS:
        return 1.0, "The response is about something else and ignores the instruction."
    if re.search(r"\d+\s*\.\s*Instruction\s*:", response):
        return 2.0, "The response runs on into another task."
    if _MISSING_CONTENT.search(task_input):
        return 2.0, "The input points at content that is not there, so the response cannot be checked."
    if task_input and task_input.strip() == response.strip():
        return 2.5, "The response only repeats the input."
    draw = rng.random()
    if draw < 0.55:
        return 5.0, "The response is correct and complete."
    if draw < 0.80:
        return 4.5, "The response is correct, with a minor omission."
    if draw < 0.92:
        return 4.0, "The response is mostly correct but could be more precise."
    return 3.0, "The response is partly correct and misses part of the task."


def judgement(instruction: str, task_input: str, response: str, rng: random.Random) -> str:
    score, why = assess(instruction, task_input, response, rng)
    form = rng.random()
    if form < 0.02:
        return "The response seems reasonable overall, though I cannot be certain."  # no score: unreadable
    if form < 0.12:
        return json.dumps({"score": score, "rationale": why})
    if form < 0.22:
        return f"{score:g}/5 - {why}"
    return f"Score: {score:g}\nRationale: {why}"


def reanswer(instruction: str, task_input: str) -> str:
    """A new response that names what it answers (deterministic, so tests can tell it from the original)."""
    task = instruction.rstrip(" .?!")
    if task_input:
        words = len(task_input.split())
        return f'Answering "{task}" for the given input ({words} words): here is a complete, careful response.'
    return f'Answering "{task}": here is a complete, careful response.'


def answer_quality(instruction: str, answer: str) -> float:
    """How the simulated judge rates an answer: its share of the instruction's content words, plus its length up
    to 60 words (so an empty or unrelated answer loses); the same whichever position the answer is shown in."""
    if answer in ("", "(empty)"):
        return 0.0
    wanted = {word for word in re.findall(r"[a-z]{4,}", instruction.lower())}
    found = set(re.findall(r"[a-z]{4,}", answer.lower()))
    overlap = len(wanted & found) / len(wanted) if wanted else 0.0
    return overlap + min(len(answer.split()), 60) / 60


def pairwise(instruction: str, first: str, second: str) -> str:
    """A verdict on two answers, free of position bias: the better by `answer_quality`, a tie when close."""
    a, b = answer_quality(instruction, first), answer_quality(instruction, second)
    if abs(a - b) < 0.05 and (a == 0) == (b == 0):  # an empty answer always loses to a written one
        return "Better: tie\nRationale: Both answers are about equally helpful."
    better = "A" if a > b else "B"
    return f"Better: {better}\nRationale: Answer {better} addresses more of the instruction."
