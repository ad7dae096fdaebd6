"""Every quality rule, as a table of raw teacher answers and the reason each must be dropped for."""

from __future__ import annotations

import pytest

from pipeline.core.records import Example
from pipeline.generation.filters import FilterConfig, check_example
from pipeline.generation.parse import parse_answer


def first_reason(raw: str, finish_reason: str = "stop") -> str | None:
    """Parse a one-task chat answer and apply the filters, as the generation loop does."""
    item = parse_answer(raw, finish_reason)[0]
    return item.reason or check_example(item.example)


def task(instruction: str, task_input: str = "<noinput>", output: str = "A fine answer.") -> str:
    return f"4. Instruction: {instruction}\n4. Input:\n{task_input}\n4. Output:\n{output}\n###"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            task("Summarize the following paragraph in one sentence.", "Bees pollinate crops.", "Bees help crops."),
            None,
        ),
        (task("Name three capitals."), "instruction_too_short"),
        (task("Tell a joke."), "instruction_too_short"),
        (task(" ".join(["word"] * 151)), "instruction_too_long"),
        (task("Describe the image of a sunset over the sea."), "blocklisted_word"),
        (task("Create a Graph of the quarterly sales numbers."), "blocklisted_word"),
        (task("Explain how to go to the nearest train station."), "blocklisted_word"),
        (task("Compose some MUSIC for a rainy afternoon."), "blocklisted_word"),
        (task("Write a program that sorts a list of numbers."), "write_a_program"),
        (task('"Quote the most famous line of Hamlet."'), "starts_with_punctuation"),
        (task("- List four kinds of citrus fruit."), "starts_with_punctuation"),
        (task("Écris une phrase sur le printemps, s'il te plaît."), "non_ascii_start"),
        (task("¿Cuál es la capital de Francia hoy?"), "non_ascii_start"),
        (task("Give a synonym for the word happy.", output=""), "empty_output"),
        (task("Give a synonym for the word happy.", output="N/A"), "placeholder_output"),
        (task("Give a synonym for the word happy.", output="<nooutput>"), "placeholder_output"),
        (
            task("Give a synonym for the word cheerful.", output="Joyful. 5. Instruction: Name a colour."),
            "output_leaks_next_task",
        ),
        (task("Summarize the article at this address.", "https://example.com/news/1234"), "input_is_url"),
        (task("Summarize the article at this address.", "www.example.org/post"), "input_is_url"),
        (task("Describe what the attached photo shows.", "<image>"), "input_is_media_placeholder"),
        (task("Describe what the attached photo shows.", "[attached: beach.jpg]"), "input_is_media_placeholder"),
        (task("Describe what the attached photo shows.", "holiday_photo.png"), "input_is_media_placeholder"),
        (task("Describe what the attached photo shows.", '<img src="chart.png">'), "input_is_media_placeholder"),
        (task("Repeat the sentence exactly as it is.", "The cat sat.", "The cat sat."), "input_equals_output"),
        (task("Summarize the following paragraph briefly.", "Bees pollinate crops.", "Bees pollin"), "truncated"),
        ("Sorry, as an AI I cannot produce that list.", "unparseable"),
        ("4. Instruction: Translate the sentence into German.\n4. Input:\nGood morning", "unparseable"),
    ],
)
def test_reason_for_each_raw_answer(raw: str, reason: str | None) -> None:
    finish_reason = "length" if reason == "truncated" else "stop"
    assert first_reason(raw, finish_reason) == reason


def test_whole_words_only() -> None:
    # "filet", "mapping" and "plotting" contain blocklisted words but are not them.
    assert check_example(Example("Suggest a side dish for filet mignon tonight.", "", "Roast potatoes.")) is None
    assert (
        check_example(Example("Explain what a hash mapping does in Python.", "", "It stores key-value pairs.")) is None
    )


def test_blocklist_and_bounds_are_configurable() -> None:
    example = Example("Describe the image of a sunset over the sea.", "", "Orange light.")
    assert check_example(example, FilterConfig(blocklist=())) is None
    assert check_example(example, FilterConfig(blocklist=("sunset",))) == "blocklisted_word"
    assert check_example(example, FilterConfig(blocklist=(), max_instruction_words=5)) == "instruction_too_long"
    assert check_example(example, FilterConfig(blocklist=(), min_instruction_words=10)) == "instruction_too_short"
    with pytest.raises(ValueError, match="min_instruction_words"):
        FilterConfig(min_instruction_words=10, max_instruction_words=5)
