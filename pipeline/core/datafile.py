"""Stream the records of a JSON list or JSONL file in linear time and bounded memory, each with its start line.

A JSON list (the `jdump` layout of alpaca_data.json) goes through ijson's incremental parser fed one line at a time
(at most `PIECE_BYTES` of it), so the line each record starts on is known when its first token is parsed, and
memory holds one record, not the file. JSONL is read a line at a time. A JSONL line that is not JSON is a record
with an `error` (the reader of a dataset may reject it and go on); a JSON list cannot be resynchronised after a
syntax error, so that, like a file that is no JSON at all, raises `InputDataError` naming the file and line.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from pipeline.core.errors import InputDataError

MAX_DEPTH = 64  # far deeper than any record format read here (self-instruct's is 3)
PIECE_BYTES = 1 << 16  # a minified JSON list is one long line: feed it in pieces, so memory stays bounded
EXPECTED = "expected a JSON list of records or one JSON object per line (JSONL)"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One element of the file as decoded, before anyone checks its fields."""

    index: int  # 0-based position among the file's records (blank JSONL lines are not records)
    line: int  # 1-based line the record starts on
    value: Any  # the decoded JSON value; None when `error` is set
    error: str | None = None  # why a JSONL line could not be decoded


def read_records(path: str | Path) -> Iterator[RawRecord]:
    """Yield the records of a JSON list or a JSONL file in file order.

    Raises:
        InputDataError: the file is missing, empty, not UTF-8 JSON, or a JSON list is broken; the message names
            the file and line.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below, after the format is known
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file; {EXPECTED}") from None
    except IsADirectoryError:
        raise InputDataError(f"{path}: is a directory; {EXPECTED}") from None
    with handle:
        first = _first_byte(handle)
        if first is None:
            raise InputDataError(f"{path}: the file is empty; {EXPECTED}")
        yield from (_json_list(path, handle) if first == b"[" else _json_lines(path, handle))


def _first_byte(handle: BinaryIO) -> bytes | None:
    """The first non-space byte, with the handle left after a UTF-8 byte order mark."""
    if handle.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
        handle.seek(0)
    start = handle.tell()
    while chunk := handle.read(PIECE_BYTES):
        stripped = chunk.lstrip()
        if stripped:
            handle.seek(start)
            return stripped[:1]
    return None


def _json_lines(path: Path, handle: BinaryIO) -> Iterator[RawRecord]:
    index = 0
    for line, row in enumerate(handle, start=1):
        if not row.strip():
            continue
        try:
            yield RawRecord(index, line, json.loads(row.rstrip(b"\r\n")))
        except UnicodeDecodeError as error:
            yield RawRecord(index, line, None, f"byte {row[error.start]:#04x} is not valid UTF-8")
        except RecursionError:
            raise InputDataError(f"{path}:{line}: JSON nested too deep to be a record; {EXPECTED}") from None
        except json.JSONDecodeError as error:
            if index == 0:  # the first record is no JSON either: this is not a JSONL file
                raise InputDataError(f"{path}:{line}: invalid JSON ({error.msg}); {EXPECTED}") from None
            yield RawRecord(index, line, None, f"invalid JSON ({error.msg}: column {error.colno})")
        index += 1


def _json_list(path: Path, handle: BinaryIO) -> Iterator[RawRecord]:
    """ijson's basic events, fed a line at a time: a record starts on the line whose piece held its first token.

    A flat object (Alpaca's records: string fields only) is built inline, at half the cost of ijson's
    `ObjectBuilder`, which takes over when a field holds an object or a list. Basic events carry no path prefix
    (a prefix grows with the depth, so `[[[...]]]` 100,000 deep once took 24 GB); deeper than MAX_DEPTH stops.
    """
    events = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events, use_float=True)
    line, index, start, depth = 1, 0, 0, 0
    flat: dict[str, Any] | None = None  # the record being built inline
    key = ""
    builder: Any = None  # ijson.ObjectBuilder of a record with nested values
    while True:
        piece = handle.readline(PIECE_BYTES)
        try:
            if piece:
                parser.send(piece)
            else:
                parser.close()
        except ijson.JSONError as error:
            raise InputDataError(f"{path}:{line}: invalid JSON ({_first_line(error)})") from None
        for event, value in events:
            if event in ("end_map", "end_array"):
                depth -= 1
            level = depth  # 0: the file's list itself; 1: a record; 2 and deeper: inside a record
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputDataError(f"{path}:{line}: JSON nested deeper than {MAX_DEPTH} levels; {EXPECTED}")
            if level == 0:
                continue
            if level == 1:
                if event == "start_map":
                    flat, start = {}, line
                elif event == "start_array":
                    builder, start = ijson.ObjectBuilder(), line
                    builder.event(event, value)
                elif flat is not None:  # end_map of a flat record
                    yield RawRecord(index, start, flat)
                    index, flat = index + 1, None
                elif builder is not None:  # the end of a record with nested values
                    builder.event(event, value)
                    yield RawRecord(index, start, builder.value)
                    index, builder = index + 1, None
                else:  # a string, number, true/false or null where a record should be
                    yield RawRecord(index, line, value)
                    index += 1
            elif flat is not None:
                if event == "map_key":
                    key = value
                elif event in ("start_map", "start_array"):  # a nested value: ObjectBuilder from here on
                    builder = ijson.ObjectBuilder()
                    builder.event("start_map", None)
                    for name, item in flat.items():
                        builder.event("map_key", name)
                        builder.event("string", item)  # a scalar is stored whatever its event's name
                    builder.event("map_key", key)
                    builder.event(event, value)
                    flat = None
                else:
                    flat[key] = value
            elif builder is not None:
                builder.event(event, value)
        del events[:]
        if not piece:
            return
        if piece.endswith(b"\n"):
            line += 1


def _first_line(error: Exception) -> str:
    """yajl's message without the excerpt it draws under it."""
    message = error.args[0] if error.args else str(error)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return str(message).strip().splitlines()[0]
