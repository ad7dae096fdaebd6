"""Turn a teacher's answer into candidate examples, tolerant of the format drift real models show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from pipeline.core.records import Example

# A field header at the start of a line, as real models write them: "7. Instruction:", "7) Input:", "7 Outputs:",
# "No.7 - Instruction:", "### Instruction:", "- Instructions:", "*1. Instructions:", "**Output:**" - any numbering or
# none. A plural needs a number, a "-" bullet or a "#" heading: a bare "Instructions:" or "Inputs:" is a section of
# an answer (a recipe's steps, a function's arguments), not a field. Group "name" is the field's name.
HEADER = re.compile(
    r"^[ \t]*(?P<mark>#+[ \t]*(?:[-*\u2022][ \t]*)?|[-\u2022][ \t]*|\*[ \t]*(?=\d))?"
    r"(?P<number>(?:No\.?[ \t]*)?\d+[ \t]*[.):]?[ \t]*(?:-[ \t]*)?)?"
    r"\**[ \t]*(?P<name>Instruction|Input|Output)(?(mark)s?|(?(number)s?|))[ \t]*\**[ \t]*:\**",
    re.I | re.M,
)
_SEPARATOR = re.compile(r"(?:\s*#{3,}\s*)+$")  # what strip_separators removes, as a pattern (tests)
# Ways models say "no input": <noinput>, <no input>, No input, N/A, None, (none), "no input required", ...
_NO_INPUT = {"noinput", "na", "none", "noinputrequired", "noinputneeded", "nil", "empty", ""}

UNPARSEABLE = "unparseable"
TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One block of an answer: an example, or the reason it could not be read; `raw` is the block's text, as the
    model wrote it."""

    raw: str
    example: Example | None = None
    reason: str | None = None


def parse_answer(text: str, finish_reason: str | None) -> list[ParsedItem]:
    """Split an answer into task blocks and read each block's instruction, input and output.

    Blocks start at Instruction headers, not at numbers or "###", because models skip, restart and forget both.
    Text before the first Instruction header is the first task when it has Input or Output headers (a completion
    continues right after the prompt's "N. Instruction:"); otherwise it is a chat preamble and is skipped, unless
    the answer holds no task at all, when it is one unparseable item. When the answer hit the token limit, its last
    item is likely cut short and is dropped as truncated.

    >>> parse_answer(" Add 2 and 3.\\n4. Input:\\n<noinput>\\n4. Output:\\n5", "stop")[0].example
    Example(instruction='Add 2 and 3.', input='', output='5')
    """
    starts = [match.start() for match in HEADER.finditer(text) if match.group("name").lower() == "instruction"]
    lead = text[: starts[0]] if starts else text
    blocks = [text[start:end] for start, end in pairwise([*starts, len(text)])]
    if any(match.group("name").lower() != "instruction" for match in HEADER.finditer(lead)):
        blocks.insert(0, lead)  # the first task, whose Instruction header the prompt wrote
    elif not starts and strip_separators(lead.strip()):
        blocks.insert(0, lead)  # no task at all (a refusal, an essay): one unparseable item shows it
    items = [item for block in blocks for item in _parse_block(block)]
    if finish_reason == "length" and items:
        items[-1] = ParsedItem(raw=items[-1].raw, reason=TRUNCATED)
    elif finish_reason == "length" and not text.strip():
        items = [ParsedItem(raw=text, reason=TRUNCATED)]
    return items


def _parse_block(block: str) -> list[ParsedItem]:
    """One block: instruction, optional input, output - in that order, each header once. A header that breaks
    that order ends the task; what follows it (a repeated output, a task without instruction) is an unparseable
    item of its own, and a header with nothing after it (a stray "5. Input:") is dropped."""
    raw = strip_separators(block.strip())
    headers = list(HEADER.finditer(raw))
    body_start = 0
    if headers and headers[0].start() == 0 and headers[0].group("name").lower() == "instruction":
        body_start = headers.pop(0).end()
    if not headers:
        return [ParsedItem(raw=raw, reason=UNPARSEABLE)] if _has_text(raw) else []
    ends = [match.start() for match in headers[1:]] + [len(raw)]
    fields = [
        (match.group("name").lower(), raw[match.end() : end], match.start())
        for match, end in zip(headers, ends, strict=True)
    ]
    instruction = " ".join(raw[body_start : headers[0].start()].split())
    position, task_input = 0, ""
    if fields[0][0] == "input":
        task_input, position = fields[0][1].strip(), 1
    if position >= len(fields) or fields[position][0] != "output":
        return [ParsedItem(raw=raw, reason=UNPARSEABLE)] if _has_text(raw) else []
    output = strip_separators(fields[position][1]).strip()
    tail_start = fields[position + 1][2] if position + 1 < len(fields) else len(raw)
    task_raw, tail = raw[:tail_start].rstrip(), raw[tail_start:]
    items = []
    if instruction:
        items.append(ParsedItem(raw=task_raw, example=Example(instruction, normalize_input(task_input), output)))
    elif _has_text(task_raw):
        items.append(ParsedItem(raw=task_raw, reason=UNPARSEABLE))
    if _has_text(tail):
        items.append(ParsedItem(raw=tail, reason=UNPARSEABLE))
    return items


def _has_text(text: str) -> bool:
    """Whether anything but headers, separators and whitespace is left: `_has_text("5. Input:\\n###")` is False."""
    return bool(strip_separators(HEADER.sub("", text)).strip(" \t\n#"))


def strip_separators(text: str) -> str:
    """Drop trailing "###" separators (runs of 3+ '#') and the whitespace around them, as `_SEPARATOR.sub`
    would, in linear time: the pattern rescans the text from every position, ~9 us a block.

    >>> strip_separators("Add 2 and 3.\\n###\\n ####  "), strip_separators("C# ##  ")
    ('Add 2 and 3.', 'C# ##  ')
    """
    rest, removed = text, False
    while True:
        trimmed = rest.rstrip()
        hashes = len(trimmed) - len(trimmed.rstrip("#"))
        if hashes < 3:
            return trimmed if removed else text
        rest, removed = trimmed[:-hashes], True


def normalize_input(text: str) -> str:
    """Map every "no input" marker to "" as Alpaca stores it; keep real inputs as they are (a marker followed by
    other text stays, for the quality rules to judge).

    >>> normalize_input("<No Input>"), normalize_input("N/A"), normalize_input("x = 3")
    ('', '', 'x = 3')
    """
    key = re.sub(r"[\s<>()\[\]{}.\-_/\"'*]", "", text.lower())
    return "" if key in _NO_INPUT else text
