"""Turn a teacher's answer into candidate examples, tolerant of the format drift real models show."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.core.records import Example

# A task header: "7. Instruction:", "7) Instruction:", "**Instruction:**", "Instruction:" - at the start of a line.
_INSTRUCTION_HEADER = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?(?:\d+[ \t]*[.):][ \t]*)?\**Instruction\**[ \t]*:\**", re.I | re.M
)
_FIELD_HEADER = re.compile(r"^[ \t]*(?:\d+[ \t]*[.):][ \t]*)?\**(Input|Output)\**[ \t]*:\**", re.I | re.M)
_SEPARATOR = re.compile(r"(?:\s*#{3,}\s*)+$")  # what strip_separators removes, as a pattern (tests)
# Ways models say "no input": <noinput>, <no input>, No input, N/A, None, (none), "no input required", ...
_NO_INPUT = {"noinput", "na", "none", "noinputrequired", "noinputneeded", "nil", "empty", ""}

UNPARSEABLE = "unparseable"
TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One block of an answer: an example, or the reason it could not be read; `raw` is the block's text."""

    raw: str
    example: Example | None = None
    reason: str | None = None


def parse_answer(text: str, finish_reason: str | None, first_index: int) -> list[ParsedItem]:
    """Split an answer into numbered task blocks and read each block's instruction, input and output.

    The completion form continues right after the prompt's "{first_index}. Instruction:", so that header is
    put back; a chat model that repeats it is read the same way. Blocks are found by their Instruction
    headers, not by numbers or "###", because models skip, restart and forget both. When the answer hit
    the token limit, its last block is likely cut short and is dropped as truncated.

    >>> parse_answer(" Add 2 and 3.\\n4. Input:\\n<noinput>\\n4. Output:\\n5", "stop", 4)[0].example
    Example(instruction='Add 2 and 3.', input='', output='5')
    """
    if not _INSTRUCTION_HEADER.match(text.lstrip()):
        text = f"{first_index}. Instruction:{text}"
    headers = list(_INSTRUCTION_HEADER.finditer(text))
    ends = [match.start() for match in headers[1:]] + [len(text)]
    blocks = [text[match.start() : end] for match, end in zip(headers, ends, strict=True)]
    items = [_parse_block(block) for block in blocks if block.strip()]
    if finish_reason == "length" and items:
        items[-1] = ParsedItem(raw=items[-1].raw, reason=TRUNCATED)
    return items


def _parse_block(block: str) -> ParsedItem:
    raw = strip_separators(block.strip())
    body = raw[_INSTRUCTION_HEADER.match(raw).end() :]
    markers = {}
    for match in _FIELD_HEADER.finditer(body):
        markers.setdefault(match.group(1).lower(), match)
    output_marker = markers.get("output")
    input_marker = markers.get("input")
    if output_marker is None or (input_marker is not None and input_marker.start() > output_marker.start()):
        return ParsedItem(raw=raw, reason=UNPARSEABLE)
    instruction_end = input_marker.start() if input_marker else output_marker.start()
    instruction = " ".join(body[:instruction_end].split())
    task_input = body[input_marker.end() : output_marker.start()].strip() if input_marker else ""
    output = strip_separators(body[output_marker.end() :]).strip()
    if not instruction:
        return ParsedItem(raw=raw, reason=UNPARSEABLE)
    return ParsedItem(raw=raw, example=Example(instruction, normalize_input(task_input), output))


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
    """Map every "no input" marker to "" as Alpaca stores it; keep real inputs as they are.

    >>> normalize_input("<No Input>"), normalize_input("N/A"), normalize_input("x = 3")
    ('', '', 'x = 3')
    """
    key = re.sub(r"[\s<>()\[\]{}.\-_/\"'*]", "", text.lower())
    return "" if key in _NO_INPUT else text
