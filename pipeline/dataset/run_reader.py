"""Reading a run folder back for publishing: manifest, stats and validated journals, with torn tails recovered.

A run killed mid-write can leave the last line of a journal cut short; everything before it is used and the
loss is reported (logged, and returned in `notes` for the dataset card). Anything else that is wrong stops the
build with the file, line and field to fix, so no example is ever dropped silently.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputDataError, RunDirError
from pipeline.core.jsonio import read_jsonl
from pipeline.core.runfiles import KEPT, LOCK, MANIFEST, REJECTED, RESPONSES, STATS

log = logging.getLogger(__name__)

NUMBER = (int, float)
KEPT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "instruction": str, "input": str, "output": str, "teacher_model": str, "prompt_version": str,
    "request_index": int, "position": int, "max_rouge_l": NUMBER, "most_similar_instructions": list,
}  # fmt: skip
REJECTED_FIELDS: dict[str, type | tuple[type, ...]] = {"reason": str, "request_index": int, "position": int}
REBUILD_HINT = (
    f"{KEPT} and {REJECTED} are rebuilt from {RESPONSES} when `alpaca-pipeline generate` runs again with the "
    "run's settings (see manifest.json)"
)


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """What a run folder holds, checked: records in journal order, and notes on anything recovered."""

    root: Path
    manifest: dict[str, Any]
    stats: dict[str, Any]
    kept: tuple[dict[str, Any], ...]
    rejected: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]  # recoveries and inconsistencies, worded for a reader of the dataset card


def read_run(run_dir: str | Path) -> FinishedRun:
    """Read and check a run folder written by `alpaca-pipeline generate`.

    Raises:
        RunDirError: the folder is missing, empty, or lacks one of the files `generate` writes.
        InputDataError: a record is malformed; the message names file, line and field.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise RunDirError(f"{root} is not a folder; pass the run folder that `alpaca-pipeline generate` wrote")
    if not any(path.name != LOCK for path in root.iterdir()):  # the lock alone: nothing was generated
        raise RunDirError(f"{root} is empty; run `alpaca-pipeline generate -o {root}` first")
    for name in (MANIFEST, STATS, RESPONSES, KEPT, REJECTED):  # `generate` writes all five by its first answer
        if not (root / name).is_file():
            raise RunDirError(
                f"{root} has no {name}, so it is not a complete run folder; run `alpaca-pipeline generate -o "
                f"{root}` with the run's settings to finish or rebuild it"
            )
    manifest, stats = _read_json(root / MANIFEST), _read_json(root / STATS)
    notes: list[str] = []
    kept = _read_journal(root / KEPT, KEPT_FIELDS, notes)
    if not kept:
        raise RunDirError(f"{root / KEPT} holds no examples, so there is no dataset to build")
    rejected = _read_journal(root / REJECTED, REJECTED_FIELDS, notes)
    _check_counts(stats, kept, rejected, notes)
    for note in notes:
        log.warning("%s", note)
    return FinishedRun(root, manifest, stats, tuple(kept), tuple(rejected), tuple(notes))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RunDirError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_journal(path: Path, fields: dict[str, type | tuple[type, ...]], notes: list[str]) -> list[dict[str, Any]]:
    """Records of a journal, each checked against `fields`; a torn last line is dropped and noted."""
    records = read_jsonl(path, recover_tail=True)
    text = path.read_text(encoding="utf-8")
    lines = [number for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if len(lines) > len(records):  # read_jsonl raises on any bad line but the last, so only the tail is gone
        notes.append(
            f"{path.name}: line {lines[-1]} was cut short by an interrupted write and is left out; the "
            f"{len(records)} complete records before it are used. {REBUILD_HINT}."
        )
    for number, record in zip(lines, records, strict=False):
        _check_record(path, number, record, fields)
    return records


_KINDS = {str: "a string", int: "an integer", list: "a list", NUMBER: "a number"}


def _check_record(path: Path, line: int, record: Any, fields: dict[str, type | tuple[type, ...]]) -> None:
    where = f"{path}:{line}"
    if not isinstance(record, dict):
        raise InputDataError(f"{where}: expected a JSON object, found {type(record).__name__}. {REBUILD_HINT}")
    for name, kind in fields.items():
        if name not in record:
            raise InputDataError(f"{where}: field '{name}' is missing. {REBUILD_HINT}")
        value = record[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = _KINDS[kind]
            raise InputDataError(f"{where}: field '{name}' must be {expected}, found {value!r:.60}. {REBUILD_HINT}")
    for rank, similar in enumerate(record.get("most_similar_instructions", [])):
        if not (isinstance(similar, dict) and isinstance(similar.get("instruction"), str)
                and isinstance(similar.get("score"), NUMBER)):  # fmt: skip
            raise InputDataError(
                f'{where}: field \'most_similar_instructions\'[{rank}] must be {{"instruction": string, "score": '
                f"number}}, found {similar!r:.60}. {REBUILD_HINT}"
            )


def _check_counts(
    stats: dict[str, Any], kept: list[dict[str, Any]], rejected: list[dict[str, Any]], notes: list[str]
) -> None:
    """The journals and stats.json are written separately; after a crash they can disagree. Say so."""
    if stats.get("kept") != len(kept):
        notes.append(
            f"stats.json counts {stats.get('kept')} kept examples but {KEPT} holds {len(kept)}: the run was "
            "interrupted between writes. The dataset holds the examples in kept.jsonl. Run `alpaca-pipeline "
            "generate` again with the run's settings to finish the run."
        )
    reasons = stats.get("rejected", {})
    if sum(reasons.values()) != len(rejected):
        notes.append(f"stats.json counts {sum(reasons.values())} rejected candidates but {REJECTED} holds "
                     f"{len(rejected)}; the counts below are stats.json's.")  # fmt: skip
