"""Read an Alpaca-format record's fields, tolerating bad ones, and repair what can be repaired in them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.datafile import RawRecord, read_records
from pipeline.core.errors import InputDataError
from pipeline.core.records import Example
from pipeline.generation.parse import normalize_input
from pipeline.generation.seeds import ALPACA_FIELDS

# Zero-width characters that carry nothing in English text; joiners (U+200C/D) stay, they shape Persian and emoji.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls except tab, newline, CR
_STRAY = re.compile(f"{_CONTROL.pattern}|{_INVISIBLE.pattern}")
MARKER_CHARS = 24  # "no input required" and its kin are short; longer inputs are real text


def read_dataset(path: Path) -> Iterator[RawRecord]:
    """The file's records; a file whose first record is an object holding lists but no Alpaca field is a wrapper
    ({"data": [...]}), not a dataset with one bad record, and stops with where the records are."""
    for record in read_records(path):
        value = record.value
        if record.index == 0 and isinstance(value, dict) and not {*ALPACA_FIELDS, "instances"} & set(value):
            lists = [name for name, item in value.items() if isinstance(item, list)]
            if lists:
                raise InputDataError(
                    f"{path}:{record.line}: an object with no instruction/input/output but a list under "
                    f"{lists[0]!r}; expected a JSON list of records or JSONL: save that list as the file"
                )
        yield record


def read_fields(record: RawRecord) -> tuple[Example | None, str, str]:
    """The record as an Example, or (None, reason, detail) for a record whose fields cannot be used."""
    if record.error is not None:
        return None, "invalid_json", record.error
    value = record.value
    if not isinstance(value, dict):
        return None, "not_an_object", f"expected a JSON object, got {type(value).__name__}"
    if "instances" in value and "output" not in value:  # self-instruct: the task with its first instance
        instances = value["instances"]
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
            return None, "wrong_field_type", "field 'instances': expected a non-empty list of {input, output} objects"
        value = {"instruction": value.get("instruction"), **instances[0]}
    for name in ALPACA_FIELDS:
        if name not in value:
            return None, "missing_field", f"field {name!r} is missing"
        if not isinstance(value[name], str):
            return None, "wrong_field_type", f"field {name!r}: expected a string, got {type(value[name]).__name__}"
    return Example(value["instruction"], value["input"], value["output"]), "", ""


def repair(example: Example) -> tuple[Example, tuple[str, ...]]:
    """Remove control and zero-width characters and surrounding whitespace; a "No input" marker input becomes "".

    >>> repair(Example(" Add 2 and 3.\\u200b", "<noinput>", "5"))
    (Example(instruction='Add 2 and 3.', input='', output='5'), ('zero_width_characters', 'surrounding_whitespace', \
'no_input_marker'))
    """
    fields, repairs = [example.instruction, example.input, example.output], []
    if any(_STRAY.search(text) for text in fields):  # rare: search first, substitute only then
        for name, pattern in (("control_characters", _CONTROL), ("zero_width_characters", _INVISIBLE)):
            cleaned = [pattern.sub("", text) for text in fields]
            if cleaned != fields:
                fields, repairs = cleaned, [*repairs, name]
    stripped = [text.strip() for text in fields]
    if stripped != fields:
        fields, repairs = stripped, [*repairs, "surrounding_whitespace"]
    if fields[1] and len(fields[1]) <= MARKER_CHARS and not normalize_input(fields[1]):  # the parser's markers
        fields[1], repairs = "", [*repairs, "no_input_marker"]
    return Example(*fields), tuple(repairs)
