"""The streaming reader: every record with its index and start line, in any layout; clear errors for bad files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.core import datafile
from pipeline.core.datafile import RawRecord, read_records
from pipeline.core.errors import InputDataError

RECORDS = [
    {"instruction": "Name three prime numbers.", "input": "", "output": "2, 3 and 5."},
    {"instruction": "Translate the word into French.", "input": "apple", "output": "pomme", "extra": [1, {"a": 2.5}]},
    {"instruction": "Standardize the following date.", "input": "July 26th, 2021", "output": ""},
]


def _lines_of_starts(text: str) -> list[int]:
    """Where each record of `text` starts, found the slow obvious way: lines that open an object at indent 4."""
    return [number for number, row in enumerate(text.split("\n"), start=1) if row.startswith("    {")]


def test_indented_json_list_gives_each_record_its_start_line(tmp_path: Path) -> None:
    text = json.dumps(RECORDS, indent=4)  # stanford_alpaca's jdump layout
    path = tmp_path / "alpaca_data.json"
    path.write_text(text)
    got = list(read_records(path))
    assert [record.value for record in got] == RECORDS
    assert [record.index for record in got] == [0, 1, 2]
    assert [record.line for record in got] == _lines_of_starts(text) == [2, 7, 18]
    assert isinstance(got[1].value["extra"][1]["a"], float)  # not ijson's Decimal


def test_minified_list_longer_than_a_piece_and_a_byte_order_mark(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datafile, "PIECE_BYTES", 16)  # every record spans several pieces of the one line
    path = tmp_path / "min.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(RECORDS * 3).encode())
    got = list(read_records(path))
    assert [record.value for record in got] == RECORDS * 3 and {record.line for record in got} == {1}


def test_jsonl_lines_blank_lines_and_a_broken_line_that_is_data(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [json.dumps(RECORDS[0]), "", json.dumps(RECORDS[1]), '{"instruction": "cut sh', json.dumps(RECORDS[2])]
    path.write_bytes(("\n".join(rows) + "\n").encode() + b'{"instruction": "Caf\xe9"}\n')
    got = list(read_records(path))
    assert [(record.index, record.line) for record in got] == [(0, 1), (1, 3), (2, 4), (3, 5), (4, 6)]
    assert got[2] == RawRecord(2, 4, None, "invalid JSON (Unterminated string starting at: column 17)")
    assert got[4].error == "byte 0xe9 is not valid UTF-8" and got[3].value == RECORDS[2]


def test_elements_that_are_not_objects_are_records_too(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    path.write_text('[\n  "text",\n  7,\n  null,\n  [1, 2],\n  {"a": "b"}\n]\n')
    assert [(record.line, record.value) for record in read_records(path)] == [
        (2, "text"), (3, 7), (4, None), (5, [1, 2]), (6, {"a": "b"}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        (" \n\n", "the file is empty"),
        ("name,instruction\nx,y\n", "1: invalid JSON (Expecting value); expected a JSON list"),
        ('{\n  "data": []\n}\n', "1: invalid JSON (Expecting property name enclosed in double quotes)"),
        ('[\n  {"instruction": "a"},\n  {"instruction": }\n]', "3: invalid JSON (parse error: unallowed token"),
        ('[\n  {"instruction": "a"},\n  {"instruction": "b"}\n', "4: invalid JSON (parse error: premature EOF)"),
        ('[{"a": 1}]\n[{"b": 2}]\n', "2: invalid JSON (parse error: trailing garbage)"),
    ],
)
def test_unreadable_files_stop_with_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputDataError, match=re.escape(f"{path}:" if message[0].isdigit() else f"{path}: ")) as error:
        list(read_records(path))
    assert message in str(error.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="no such file"):
        list(read_records(tmp_path / "absent.json"))
    with pytest.raises(InputDataError, match="is a directory"):
        list(read_records(tmp_path))


def test_records_stream_before_the_file_is_read_to_its_end(tmp_path: Path) -> None:
    """A broken end is reported only after the good records before it came out: nothing is loaded up front."""
    path = tmp_path / "torn.json"
    path.write_text(json.dumps(RECORDS, indent=4)[:-40])
    records = read_records(path)
    assert next(records).value == RECORDS[0] and next(records).value == RECORDS[1]
    with pytest.raises(InputDataError, match="premature EOF"):
        next(records)


def test_values_equal_the_standard_decoder_whatever_they_nest(tmp_path: Path) -> None:
    records = [
        {"a": {"b": 1, "c": [2, {"d": None}]}, "e": "f"}, {"x": [], "y": {}}, {}, {"k": None, "t": True, "n": 1.5},
        {"instruction": "i", "input": "", "output": "o", "tags": ["a", "b"], "more": "x"}, [], [{"a": 1}],
    ]  # fmt: skip
    path = tmp_path / "nested.json"
    for text in (json.dumps(records, indent=4), json.dumps(records)):
        path.write_text(text)
        assert [record.value for record in read_records(path)] == json.loads(text)
