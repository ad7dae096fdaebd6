"""Load and validate seed tasks: self-instruct JSONL, Alpaca JSON lists and Alpaca JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputDataError
from pipeline.core.records import Example, SeedTask

SELF_INSTRUCT_FIELDS = ("id", "name", "instruction", "instances", "is_classification")
ALPACA_FIELDS = ("instruction", "input", "output")
MAX_SEED_FIELD_CHARS = 5_000  # ~1,250 tokens; the 175 seed tasks have at most 517 characters in any field


def default_seed_path() -> Path:
    """The project's own 175 seed tasks, shipped with the package."""
    return Path(str(resources.files("seed_tasks").joinpath("seed_tasks.jsonl")))


def load_seed_tasks(path: str | Path) -> list[SeedTask]:
    """Read seed tasks from `path`, whichever supported format it is in.

    Raises:
        InputDataError: naming the file, line and field, for anything that is not a valid seed file.
    """
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise InputDataError(f"{path}: the file is empty; expected seed tasks as JSONL or a JSON list")
    records = _json_list(path, text) if text.lstrip().startswith("[") else _json_lines(path, text)
    tasks: list[SeedTask] = []
    first_line_of_id: dict[str, int] = {}
    for number, (line, record) in enumerate(records):
        task = _to_seed_task(path, line, number, record)
        _check_prompt_size(f"{path}:{line}", task)
        if task.id in first_line_of_id:
            raise InputDataError(
                f"{path}:{line}: field 'id': duplicate id {task.id!r} (first used on line {first_line_of_id[task.id]})"
            )
        first_line_of_id[task.id] = line
        tasks.append(task)
    if not tasks:
        raise InputDataError(f"{path}: no seed tasks found; expected at least one record")
    return tasks


def load_alpaca_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Read an Alpaca dataset (JSON list or JSONL) as (line, record) pairs, extra fields kept.

    Raises:
        InputDataError: naming the file, line and field of the first record that is not an Alpaca record.
    """
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise InputDataError(f"{path}: the file is empty; expected Alpaca records as JSONL or a JSON list")
    records = list(_json_list(path, text) if text.lstrip().startswith("[") else _json_lines(path, text))
    for line, record in records:
        where = f"{path}:{line}"
        if not isinstance(record, dict):
            raise InputDataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        _example(where, record, "")
    return records


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file; expected a seed task file (JSONL or JSON)") from None
    except IsADirectoryError:
        raise InputDataError(f"{path}: is a directory; expected a seed task file (JSONL or JSON)") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputDataError(
            f"{path}:{line}: byte {data[error.start]:#04x} is not valid UTF-8; save the file as UTF-8"
        ) from None


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    for line, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        try:
            yield line, json.loads(row)
        except json.JSONDecodeError as error:
            raise InputDataError(f"{path}:{line}: invalid JSON ({error.msg} at column {error.colno})") from None
        except RecursionError:
            raise InputDataError(f"{path}:{line}: JSON nested too deep to be a record") from None


def _json_list(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Decode a JSON array element by element, so each record keeps the line it starts on."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1

    def skip_space(at: int) -> int:
        while at < len(text) and text[at].isspace():
            at += 1
        return at

    def fail(at: int, message: str) -> InputDataError:
        return InputDataError(f"{path}:{text.count(chr(10), 0, at) + 1}: invalid JSON ({message})")

    position = skip_space(position)
    if position < len(text) and text[position] == "]":
        return
    while True:
        try:
            record, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise fail(error.pos, error.msg) from None
        except RecursionError:
            raise fail(position, "nested too deep to be a record") from None
        yield text.count("\n", 0, position) + 1, record
        position = skip_space(end)
        if position < len(text) and text[position] == ",":
            position = skip_space(position + 1)
        elif position < len(text) and text[position] == "]":
            if text[position + 1 :].strip():
                raise fail(position + 1, "extra data after the closing ']'")
            return
        else:
            raise fail(position, "expected ',' or ']' after a record")


def _to_seed_task(path: Path, line: int, number: int, record: Any) -> SeedTask:
    where = f"{path}:{line}"
    if not isinstance(record, dict):
        raise InputDataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "instances" in record:
        return _self_instruct_task(where, record)
    if "output" in record or "input" in record:
        example = _example(where, record, "")
        return SeedTask(f"record_{number}", "", example.instruction, (example,), False)
    missing = next(field for field in (*SELF_INSTRUCT_FIELDS, *ALPACA_FIELDS) if field not in record)
    raise InputDataError(
        f"{where}: field {missing!r} is missing; expected a self-instruct task {{{', '.join(SELF_INSTRUCT_FIELDS)}}}"
        f" or an Alpaca record {{{', '.join(ALPACA_FIELDS)}}}"
    )


def _check_prompt_size(where: str, task: SeedTask) -> None:
    """A seed task is shown in prompts: one far longer than a task (a pasted file) would make every prompt huge."""
    example = task.example
    for field, value in (("instruction", task.instruction), ("input", example.input), ("output", example.output)):
        if len(value) > MAX_SEED_FIELD_CHARS:
            raise InputDataError(
                f"{where}: field {field!r}: {len(value):,} characters, over the {MAX_SEED_FIELD_CHARS:,} a seed task "
                "may have (it goes into every prompt that shows it); shorten it"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputDataError(
                f"{where}: field {field!r}: holds a lone surrogate (an escape like \\ud800 that is no character)"
            ) from None


def _self_instruct_task(where: str, record: dict[str, Any]) -> SeedTask:
    for field in SELF_INSTRUCT_FIELDS:
        if field not in record:
            raise InputDataError(f"{where}: field {field!r} is missing; a self-instruct task needs it")
    task_id = _string(where, record, "id", allow_empty=False)
    name = _string(where, record, "name", allow_empty=True)
    instruction = _string(where, record, "instruction", allow_empty=False)
    if not isinstance(record["is_classification"], bool):
        raise InputDataError(
            f"{where}: field 'is_classification': expected true or false, got {record['is_classification']!r}"
        )
    instances = record["instances"]
    if not isinstance(instances, list) or not instances:
        raise InputDataError(f"{where}: field 'instances': expected a non-empty list of {{input, output}} objects")
    examples = []
    for position, instance in enumerate(instances):
        prefix = f"instances[{position}]."
        if not isinstance(instance, dict):
            raise InputDataError(f"{where}: field 'instances[{position}]': expected an object with input and output")
        examples.append(_example(where, {"instruction": instruction, **instance}, prefix))
    return SeedTask(task_id, name, instruction, tuple(examples), record["is_classification"])


def _example(where: str, record: dict[str, Any], prefix: str) -> Example:
    for field in ALPACA_FIELDS:
        if field not in record:
            raise InputDataError(f"{where}: field '{prefix}{field}' is missing")
    return Example(
        instruction=_string(where, record, "instruction", allow_empty=False),
        input=_string(where, record, "input", allow_empty=True, label=prefix + "input"),
        output=_string(where, record, "output", allow_empty=False, label=prefix + "output"),
    )


def _string(where: str, record: dict[str, Any], field: str, allow_empty: bool, label: str | None = None) -> str:
    value = record[field]
    label = label or field
    if not isinstance(value, str):
        raise InputDataError(f"{where}: field {label!r}: expected a string, got {type(value).__name__} {value!r}")
    if not allow_empty and not value.strip():
        raise InputDataError(f"{where}: field {label!r}: expected a non-empty string")
    return value
