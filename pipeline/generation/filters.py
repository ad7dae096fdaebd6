"""Quality rules for candidate examples; each returns None to keep or the name of the reason to drop."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from pipeline.core.records import Example
from pipeline.generation.parse import HEADER

# Alpaca's blocklist: tasks a text-only model cannot do (generate_instruction.py, stanford_alpaca).
DEFAULT_BLOCKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
# Outputs the released alpaca_data.json holds that answer nothing.
PLACEHOLDER_OUTPUTS = frozenset({"n/a", "na", "<nooutput>", "<no output>", "no output", "none", "<none>"})
_LEAKED_TASK = re.compile(r"\d+\s*[.)]\s*\**\s*Instructions?\s*\**\s*:", re.I)
_URL_ONLY = re.compile(r"^(?:https?://|www\.)\S+$", re.I)
# "<image>", "[Image]", "[attached: photo.jpg]", "(see attachment)", a bare media file name, an <img> tag.
_MEDIA_PLACEHOLDER = re.compile(
    r"^[<\[(]\s*(?:image|photo|picture|attachment|attached|see attach\w*|screenshot|video|audio|file)\b"
    r"[^\n]{0,60}[>\])]$"
    r"|^\S+\.(?:png|jpe?g|gif|bmp|webp|svg|mp3|wav|mp4|mov|pdf)$"
    r"|^<(?:img|video|audio)\b[^>]*>$",
    re.I,
)

# Rules for what real teachers write (issue 18); each pattern names the defect it catches.
# Program-writing anywhere: "Write a program", "creating a simple executable program" - not a training program.
_PROGRAM_TASK = re.compile(
    r"\b(?:writ|creat|build|develop|implement|cod|mak)(?:e|es|ing|s)?\s+"
    r"(?:(?!(?:training|exercise|fitness|workout|loyalty|rewards?|tv|television|radio|study|diet|meal|mentor\w*|"
    r"volunteer|exchange|degree|school|after-school|recycling|wellness)\b)[\w+#-]+\s+){0,3}programs?\b",
    re.I,
)
# A field header inside a field: at a line start in any form (parse.HEADER), numbered in mid-line ("... genre.
# 2. Instructions: The"), or a bullet in mid-line ("listed below. - Instruction:").
_INLINE_HEADER = re.compile(
    r"(?:\b\d+[ \t]*[.)]|(?<=\s)[-*\u2022])[ \t]*\**[ \t]*(?:Instruction|Input|Output)s?[ \t]*\**[ \t]*:", re.I
)
# A numbered label that opens a field ("8. Question: ...") or ends it with nothing after ("...\n4. Sentence:").
_LABEL_FIRST = re.compile(r"\A\s*\d+[ \t]*[.)][ \t]*(?:question|answer|task|sentence|response|example)s?[ \t]*:", re.I)
_LABEL_LAST = re.compile(r"^[ \t]*\d+[ \t]*[.)][ \t]*\w+(?:[ \t]\w+)?[ \t]*:[ \t]*\Z", re.M)
# A slot the teacher did not fill: "[date]", "[Your Name]", "[Tie-up]" - not lst[i], [1] or a [link](url).
_BRACKETED_SLOT = re.compile(r"(?<![\w\])])\[[A-Za-z][A-Za-z' -]{1,40}\](?!\()")
_BLANK = re.compile(r"(?<!\w)_{2,}(?!\w)")  # "She was so __ that": a fill-in blank left in an answer
_CODE = re.compile(r"```|\bdef |\breturn\b|\bimport |=|\bprint\(|;\s*$", re.M)  # brackets mean code here
# The bootstrap prompt's own requirements, echoed as a task: "a list containing 20 tasks", "20 different tasks must
# ...", an instruction about tasks and instructions, "the above tasks", the "<noinput>" marker, "instruction-tuning".
_PROMPT_ECHO = re.compile(
    r"\b(?:list|set)\s+(?:of|containing|with)\s+\d+\s+(?:\w+\s+)?tasks\b"
    r"|\b\d+\s+(?:different|diverse|new|unique|more)\s+tasks\b"
    r"|\btasks?\b.*\binstructions?\b|\binstructions?\b.*\btasks?\b"
    r"|\babove\s+(?:\w+\s+)?(?:tasks|instructions|requirements)\b"
    r"|<\s*no\s*input\s*>|\binstruction[- ]tuning\b|\b(?:input|output)\s+field\b",
    re.I | re.S,
)
# "No input" said and then more text: "<noinput>\n10. Question: ...", "- no input - nothing at all."
_MARKER_WITH_TEXT = re.compile(r"^\W*(?:<\s*no[\s_-]*input\s*>|no[\s_-]*input\b|n/a\b)(?=.*[^\W_])", re.I | re.S)
_ABOUT_SYMBOLS = re.compile(r"\b(?:emojis?|emoticons?|symbols?|punctuation|characters?|unicode)\b", re.I)


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
    # Alpaca: "Write a program" tasks lead to outputs a text-only model does poorly; real teachers say it anywhere.
    found = "program" in example.instruction.lower() and _PROGRAM_TASK.search(example.instruction)
    return "write_a_program" if found else None


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
    if _URL_ONLY.match(task_input):
        return "input_is_url"
    if _MEDIA_PLACEHOLDER.match(task_input):
        return "input_is_media_placeholder"
    return None


def input_equals_output(example: Example, config: FilterConfig) -> str | None:
    task_input = example.input.strip()
    return "input_equals_output" if task_input and task_input == example.output.strip() else None


def field_headers(example: Example, config: FilterConfig) -> str | None:
    """A field header ("7. Output:", "Instructions:") left inside a field: the teacher lost the format there."""
    output = example.output.strip()
    for name, text in (("instruction", example.instruction), ("input", example.input), ("output", output)):
        if ":" not in text:  # every header and label ends with one: most fields need no pattern (~4x faster)
            continue
        lower = text.lower()
        if ("instruction" in lower or "put" in lower) and (HEADER.search(text) or _INLINE_HEADER.search(text)):
            if name == "output" and not HEADER.sub("", output).strip(" \t\n#"):
                return "output_only_headers"
            return f"header_in_{name}"
        if _LABEL_LAST.search(text.rstrip()) or (name != "instruction" and _LABEL_FIRST.match(text)):
            return f"header_in_{name}"
    return None


def placeholder_slot(example: Example, config: FilterConfig) -> str | None:
    """A slot left unfilled in the output or input: "[date]", "[Your Name]", a "__" blank in an answer."""
    output = example.output
    if "__" in output and _BLANK.search(output):
        return "placeholder_in_output"
    for name, text in (("output", output), ("input", example.input)):
        if "[" in text and _BRACKETED_SLOT.search(text) and not _CODE.search(text):
            return f"placeholder_in_{name}"
    return None


def prompt_echo(example: Example, config: FilterConfig) -> str | None:
    """An instruction that restates the bootstrap prompt's requirements instead of being a task."""
    lower = example.instruction.lower()
    if not any(word in lower for word in ("task", "instruction", "input", "output", "requirement")):
        return None  # the pattern needs one of these words; checking for them first is ~20x faster
    return "instruction_echoes_prompt" if _PROMPT_ECHO.search(example.instruction) else None


def input_marker_with_text(example: Example, config: FilterConfig) -> str | None:
    """A "no input" marker with more text after it, or an input with no word at all (an emoji-only "🌟")."""
    task_input = example.input.strip()
    if _MARKER_WITH_TEXT.match(task_input):
        return "input_marker_with_text"
    if task_input and not re.search(r"[^\W_]", task_input) and not _ABOUT_SYMBOLS.search(example.instruction):
        return "input_without_words"
    return None


RULES: tuple[Callable[[Example, FilterConfig], str | None], ...] = (
    instruction_length,
    blocklisted_word,
    write_a_program,
    bad_first_character,
    empty_output,
    leaked_next_task,
    unusable_input,
    input_equals_output,
    field_headers,
    placeholder_slot,
    prompt_echo,
    input_marker_with_text,
)


def check_example(example: Example, config: FilterConfig = FilterConfig()) -> str | None:
    """The first rule the example breaks, or None when it passes all of them."""
    for rule in RULES:
        reason = rule(example, config)
        if reason is not None:
            return reason
    return None
