"""Load and validate seed tasks: self-instruct JSONL, Alpaca JSON lists and Alpaca JSONL."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.core.datafile import RawRecord, read_records
from pipeline.core.errors import InputDataError
from pipeline.core.records import Example, SeedTask

SELF_INSTRUCT_FIELDS = ("id", "name", "instruction", "instances", "is_classification")
ALPACA_FIELDS = ("instruction", "input", "output")
MAX_SEED_FIELD_CHARS = 5_000  # ~1,250 tokens; the 175 seed tasks have at most 517 characters in any field


def default_seed_path() -> Path:
    """The project's own 175 seed tasks, shipped with the package."""
    return Path(str(resources.files("seed_tasks").joinpath("seed_tasks.jsonl")))


def load_seed_tasks(path: str | Path) -> list[SeedTask]:
    """Read seed tasks from `path`, whichever supported format it is in; any bad record stops the load.

    Raises:
        InputDataError: naming the file, line and field, for anything that is not a valid seed file.
    """
    path = Path(path)
    tasks: list[SeedTask] = []
    first_line_of_id: dict[str, int] = {}
    for record in _strict(path):
        task = _to_seed_task(path, record.line, record.index, record.value)
        _check_prompt_size(f"{path}:{record.line}", task)
        if task.id in first_line_of_id:
            raise InputDataError(
                f"{path}:{record.line}: field 'id': duplicate id {task.id!r} (first used on line "
                f"{first_line_of_id[task.id]})"
            )
        first_line_of_id[task.id] = record.line
        tasks.append(task)
    if not tasks:
        raise InputDataError(f"{path}: no seed tasks found; expected at least one record")
    return tasks


def load_alpaca_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Read an Alpaca dataset (JSON list or JSONL) as (line, record) pairs, extra fields kept; strict.

    For a dataset to clean, where a bad record is data rather than a reason to stop, read it with
    `pipeline.core.datafile.read_records` instead (as `alpaca-pipeline clean` and `dedup` do).

    Raises:
        InputDataError: naming the file, line and field of the first record that is not an Alpaca record.
    """
    path = Path(path)
    records = []
    for record in _strict(path):
        where = f"{path}:{record.line}"
        if not isinstance(record.value, dict):
            raise InputDataError(f"{where}: expected a JSON object, got {type(record.value).__name__}")
        _example(where, record.value, "")
        records.append((record.line, record.value))
    return records


def _strict(path: Path) -> Iterator[RawRecord]:
    """The file's records; a line that is not JSON stops the load."""
    for record in read_records(path):
        if record.error is not None:
            raise InputDataError(f"{path}:{record.line}: {record.error}")
        yield record


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
