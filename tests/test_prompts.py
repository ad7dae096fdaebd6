"""The bootstrap prompt against golden files, and the determinism of each request's demonstrations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.generation.prompts import (
    PROMPT_VERSION,
    build_prompt,
    load_template,
    prompt_for_request,
    sample_demonstrations,
)
from pipeline.generation.seeds import load_seed_tasks

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # UPDATE_GOLDEN=1 pytest tests/test_prompts.py rewrites them


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs; rerun with UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("request_index", [0, 1])
def test_prompts_match_golden_files(small_seed_path: Path, request_index: int) -> None:
    seeds = load_seed_tasks(small_seed_path)
    prompt = prompt_for_request(seeds, run_seed=0, request_index=request_index, k=3, num_tasks=20)
    check_golden(f"{PROMPT_VERSION}.request{request_index}.completion.txt", prompt.text)
    check_golden(f"{PROMPT_VERSION}.request{request_index}.chat.json", json.dumps(prompt.messages, indent=2) + "\n")


def test_prompt_structure(small_seed_path: Path) -> None:
    seeds = load_seed_tasks(small_seed_path)
    prompt = build_prompt(seeds[:3], num_tasks=20)
    assert "list of 20 diverse tasks" in prompt.text and prompt.text.count("###") == 4
    assert prompt.text.endswith("###\n4. Instruction:") and prompt.first_index == 4
    assert "3. Input:\n26.2 miles\n3. Output:\n42.2 km\n" in prompt.text
    assert "1. Input:\n<noinput>\n" in prompt.text  # an empty input is shown with Alpaca's marker
    assert prompt.messages[1] == {"role": "user", "content": prompt.text}
    assert prompt.messages[0]["role"] == "system"
    assert prompt.demonstrations == ("seed_task_0", "seed_task_1", "seed_task_2")


def test_request_prompt_depends_only_on_run_seed_and_index(small_seed_path: Path) -> None:
    seeds = load_seed_tasks(small_seed_path)
    first = [prompt_for_request(seeds, 7, i).demonstrations for i in range(20)]
    again = [prompt_for_request(seeds, 7, i).demonstrations for i in reversed(range(20))][::-1]
    assert first == again
    assert len(set(first)) > 5  # requests do see different demonstrations
    assert first != [prompt_for_request(seeds, 8, i).demonstrations for i in range(20)]


def test_bad_prompt_parameters(small_seed_path: Path) -> None:
    seeds = load_seed_tasks(small_seed_path)
    with pytest.raises(ValueError, match="num_tasks"):
        build_prompt(seeds[:3], num_tasks=3)
    import random

    with pytest.raises(ValueError, match="between 1 and the number of seed tasks"):
        sample_demonstrations(seeds, 6, random.Random(0))


def test_templates_are_package_data() -> None:
    assert "$num_tasks" in load_template(f"{PROMPT_VERSION}.txt")


def test_review_prompts_match_golden_files() -> None:
    from pipeline.core.records import Example
    from pipeline.review.prompts import JUDGE_VERSION, REANSWER_VERSION, RUBRICS, judge_prompt, reanswer_prompt

    example = Example("Convert 3 km to meters.", "", "3 km is 3,000 meters.")
    for rubric in RUBRICS:
        prompt = judge_prompt(example, rubric)
        check_golden(f"{JUDGE_VERSION}.{rubric}.completion.txt", prompt.text)
        check_golden(f"{JUDGE_VERSION}.{rubric}.chat.json", json.dumps(prompt.messages, indent=2) + "\n")
    with_input = Example("Summarize the text in one sentence.", "The meeting moved to Friday at noon.", "")
    for name, (instruction, task_input) in {"no-input": (example.instruction, ""),
                                            "input": (with_input.instruction, with_input.input)}.items():  # fmt: skip
        prompt = reanswer_prompt(instruction, task_input)
        check_golden(f"{REANSWER_VERSION}.{name}.completion.txt", prompt.text)
        check_golden(f"{REANSWER_VERSION}.{name}.chat.json", json.dumps(prompt.messages, indent=2) + "\n")
