"""JSON and JSONL files written so a crash leaves whole records: atomic writes, durable appends, tolerant reads."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.core.errors import RunDirError

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a crash leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as handle:
        try:
            json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:  # a full disk: leave the old file, and no half-written temporary beside it
            handle.close()
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)


def read_jsonl(path: str | Path, recover_tail: bool = False) -> list[dict[str, Any]]:
    """Read a journal. With `recover_tail`, a last line cut short by a crash is dropped with a warning.

    Raises:
        RunDirError: for an invalid line anywhere else, naming file and line.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            is_tail = number == len(lines) and recover_tail  # a complete line always ends with "\n"
            if not is_tail:
                raise RunDirError(f"{path}:{number}: invalid JSON ({error.msg}); the journal is damaged") from None
            log.warning("%s:%d: dropped a line cut short by an interrupted write", path, number)
    return records


def append_durably(handle: Any, records: Iterable[dict[str, Any]]) -> None:
    """Append JSON lines, each with its newline in one write, and fsync before returning."""
    for record in records:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def cut_torn_tail(path: Path) -> None:
    """Cut a journal back to its last complete line: every record is written with its newline in one write."""
    if not path.exists():
        return
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            chunk = handle.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            log.warning("%s: dropped %d bytes of a line cut short by an interrupted write", path, size - end)
            handle.truncate(end)


def swap_folder(partial: Path, final: Path) -> None:
    """Put a folder built beside `final` in its place; a kill in between leaves one complete folder, never a mix."""
    retired = final.with_name(f".{final.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        final.rename(retired)
    partial.rename(final)
    shutil.rmtree(retired, ignore_errors=True)
