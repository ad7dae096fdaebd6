"""Seed loading: every supported format, the shipped seed file, and a clear error for every bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.core.errors import InputDataError
from pipeline.generation.dedup import RougeIndex
from pipeline.generation.filters import check_example
from pipeline.generation.seeds import default_seed_path, load_seed_tasks


def test_self_instruct_format_loads(small_seed_path: Path) -> None:
    tasks = load_seed_tasks(small_seed_path)
    assert [task.id for task in tasks] == [f"seed_task_{i}" for i in range(5)]
    assert tasks[1].is_classification and not tasks[0].is_classification
    assert tasks[0].example.input == ""
    assert tasks[2].example.input == "26.2 miles" and tasks[2].example.output == "42.2 km"
    assert tasks[3].example.instruction == tasks[3].instruction


def test_alpaca_json_list_and_jsonl_load(tmp_path: Path) -> None:
    records = [
        {"instruction": "Name three prime numbers below ten.", "input": "", "output": "2, 3 and 5."},
        {"instruction": "Translate the word into French.", "input": "apple", "output": "pomme"},
    ]
    listed = tmp_path / "alpaca_data.json"
    listed.write_text(json.dumps(records, indent=4))
    lines = tmp_path / "alpaca.jsonl"
    lines.write_text("\n".join(json.dumps(record) for record in records) + "\n\n")
    for path in (listed, lines):
        tasks = load_seed_tasks(path)
        assert [task.example.to_dict() for task in tasks] == records
        assert len({task.id for task in tasks}) == 2


def test_shipped_seed_tasks_match_the_brief() -> None:
    tasks = load_seed_tasks(default_seed_path())
    assert len(tasks) == 175
    assert 20 <= sum(task.is_classification for task in tasks) <= 30
    with_input = sum(bool(task.example.input.strip()) for task in tasks)
    assert 0.33 <= with_input / len(tasks) <= 0.47
    assert max(len(task.example.output.split()) for task in tasks) < 100
    assert len({task.instruction.split()[0].lower() for task in tasks}) >= 50  # many different leading verbs
    # The seeds pass our own quality rules and are not near-duplicates of each other.
    assert [task.id for task in tasks if check_example(task.example) is not None] == []
    index = RougeIndex()
    for task in tasks:
        assert index.add_if_novel(task.instruction).is_novel, task.id


def _write(tmp_path: Path, content: str | bytes, name: str = "seeds.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


GOOD = json.dumps(
    {
        "id": "a",
        "name": "n",
        "instruction": "Do it.",
        "instances": [{"input": "", "output": "ok"}],
        "is_classification": False,
    }
)


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        (GOOD + "\n{not json}\n", 2, "invalid JSON"),
        (GOOD + "\n" + GOOD.replace('"name": "n", ', "") + "\n", 2, "field 'name' is missing"),
        (GOOD.replace('"Do it."', '"  "'), 1, "field 'instruction': expected a non-empty string"),
        (GOOD.replace('"ok"', '""'), 1, "field 'instances[0].output': expected a non-empty string"),
        (GOOD.replace('"output": "ok"', '"output": 7'), 1, "field 'instances[0].output': expected a string, got int"),
        (GOOD.replace("false", '"no"'), 1, "field 'is_classification': expected true or false"),
        (GOOD.replace('[{"input": "", "output": "ok"}]', "[]"), 1, "field 'instances': expected a non-empty list"),
        (GOOD.replace('"input": "", ', ""), 1, "field 'instances[0].input' is missing"),
        ("\n" + GOOD + "\n" + GOOD + "\n", 3, "duplicate id 'a' (first used on line 2)"),
        ("[1, 2]", 1, "expected a JSON object, got int"),
        ('{"instruction": "Do it.", "output": "x"}', 1, "field 'input' is missing"),
        ('{"title": "x"}', 1, "field 'id' is missing"),
    ],
)
def test_bad_seed_lines_name_file_line_and_field(tmp_path: Path, content: str, line: int, expected: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(InputDataError) as error:
        load_seed_tasks(path)
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert expected in str(error.value)


def test_bad_json_list_names_the_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '[\n  {"instruction": "a b c d", "input": "", "output": "x"},\n  {"instruction": }\n]', "d.json"
    )
    with pytest.raises(InputDataError, match=re.escape(f"{path}:3: invalid JSON")):
        load_seed_tasks(path)
    path = _write(tmp_path, '[\n  {"instruction": "a b c d", "input": "", "output": 5}\n]', "e.json")
    with pytest.raises(InputDataError, match=re.escape(f"{path}:2: field 'output': expected a string, got int")):
        load_seed_tasks(path)


@pytest.mark.parametrize("content", ["", "  \n\n", "[]"])
def test_empty_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(InputDataError, match=re.escape(str(path))):
        load_seed_tasks(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="no such file"):
        load_seed_tasks(tmp_path / "absent.jsonl")
    with pytest.raises(InputDataError, match="is a directory"):
        load_seed_tasks(tmp_path)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path, (GOOD + "\n").encode() + GOOD.replace('"a"', '"b"').replace("Do it.", "Caf\xe9").encode("latin-1")
    )
    with pytest.raises(InputDataError, match=re.escape(f"{path}:2: byte 0xe9 is not valid UTF-8")):
        load_seed_tasks(path)
