"""Quality rules for candidate examples; each returns None to keep or the name of the reason to drop."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from pipeline.core.records import Example
from pipeline.generation import defects

# Alpaca's blocklist: tasks a text-only model cannot do (generate_instruction.py, stanford_alpaca).
DEFAULT_BLOCKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
# Outputs the released alpaca_data.json holds that answer nothing.
PLACEHOLDER_OUTPUTS = frozenset({"n/a", "na", "<nooutput>", "<no output>", "no output", "none", "<none>"})
_LEAKED_TASK = re.compile(r"\d+\s*\.\s*Instruction\s*:", re.I)
_URL_ONLY = re.compile(r"^(?:https?://|www\.)\S+$", re.I)
# "<image>", "[Image]", "[attached: photo.jpg]", "(see attachment)", a bare media file name, an <img> tag.
_MEDIA_PLACEHOLDER = re.compile(
    r"^[<\[(]\s*(?:image|photo|picture|attachment|attached|see attach\w*|screenshot|video|audio|file)\b"
    r"[^\n]{0,60}[>\])]$"
    r"|^\S+\.(?:png|jpe?g|gif|bmp|webp|svg|mp3|wav|mp4|mov|pdf)$"
    r"|^<(?:img|video|audio)\b[^>]*>$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Bounds and blocklist of the quality rules; the defaults are Alpaca's."""

    min_instruction_words: int = field(
        default=4,  # Alpaca drops instructions of 3 words or fewer
        metadata={"help": "Drop an instruction of fewer words.", "ge": 1},
    )
    max_instruction_words: int = field(
        default=150,  # ...and of more than 150
        metadata={"help": "Drop an instruction of more words.", "ge": 1},
    )
    blocklist: tuple[str, ...] = field(
        default=DEFAULT_BLOCKLIST,
        metadata={"help": "Drop an instruction with any of these words or phrases (whole words, any case)."},
    )

    def __post_init__(self) -> None:
        if not 1 <= self.min_instruction_words <= self.max_instruction_words:
            raise ValueError(
                f"need 1 <= min_instruction_words <= max_instruction_words, got "
                f"{self.min_instruction_words} and {self.max_instruction_words}"
            )


@cache
def _blocklist_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive matching, compiled once per blocklist."""
    if not words:
        return None
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.I)


def instruction_length(example: Example, config: FilterConfig) -> str | None:
    words = len(example.instruction.split())
    if words < config.min_instruction_words:
        return "instruction_too_short"
    if words > config.max_instruction_words:
        return "instruction_too_long"
    return None


def blocklisted_word(example: Example, config: FilterConfig) -> str | None:
    pattern = _blocklist_pattern(config.blocklist)
    return "blocklisted_word" if pattern is not None and pattern.search(example.instruction) else None


def write_a_program(example: Example, config: FilterConfig) -> str | None:
    # Alpaca: "Write a program" tasks lead to outputs a text-only model does poorly.
    return "write_a_program" if example.instruction.startswith("Write a program") else None


def bad_first_character(example: Example, config: FilterConfig) -> str | None:
    first = example.instruction[:1]
    if first in string.punctuation:
        return "starts_with_punctuation"
    if not first.isascii():
        return "non_ascii_start"
    return None


def empty_output(example: Example, config: FilterConfig) -> str | None:
    output = example.output.strip()
    if not output:
        return "empty_output"
    if output.lower() in PLACEHOLDER_OUTPUTS:
        return "placeholder_output"
    return None


def leaked_next_task(example: Example, config: FilterConfig) -> str | None:
    return "output_leaks_next_task" if _LEAKED_TASK.search(example.output) else None


def unusable_input(example: Example, config: FilterConfig) -> str | None:
    task_input = example.input.strip()
    if _URL_ONLY.match(task_input) and not defects.is_about_urls(example):
        return "input_is_url"
    if _MEDIA_PLACEHOLDER.match(task_input):
        return "input_is_media_placeholder"
    return None


def input_equals_output(example: Example, config: FilterConfig) -> str | None:
    return "input_equals_output" if defects.is_unchanged_edit(example) else None


RULES: tuple[Callable[[Example, FilterConfig], str | None], ...] = (
    instruction_length,
    blocklisted_word,
    write_a_program,
    bad_first_character,
    empty_output,
    leaked_next_task,
    unusable_input,
    input_equals_output,
    *defects.RULES,
)


def check_example(example: Example, config: FilterConfig = FilterConfig()) -> str | None:
    """The first rule the example breaks, or None when it passes all of them."""
    for rule in RULES:
        reason = rule(example, config)
        if reason is not None:
            return reason
    return None
