"""The parser on the format drift real teachers show, and on truncated and garbled answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.records import Example
from pipeline.generation.parse import (
    _SEPARATOR,
    TRUNCATED,
    UNPARSEABLE,
    normalize_input,
    parse_answer,
    strip_separators,
)

COMPLETION = """ Name three rivers that flow through Germany.
4. Input:
<noinput>
4. Output:
The Rhine, the Elbe and the Danube.
###
5. Instruction: Classify the animal as a mammal, bird or reptile.
5. Input:
Penguin
5. Output:
Bird
###
6. Instruction: Fix the grammar of the sentence.
6. Input:
She don't like apples.
6. Output:
She doesn't like apples.
###"""


def examples(text: str, finish_reason: str | None = "stop") -> list[Example | str]:
    return [item.example or item.reason for item in parse_answer(text, finish_reason)]


def test_completion_answer_continues_after_the_prompt_header() -> None:
    assert examples(COMPLETION) == [
        Example("Name three rivers that flow through Germany.", "", "The Rhine, the Elbe and the Danube."),
        Example("Classify the animal as a mammal, bird or reptile.", "Penguin", "Bird"),
        Example("Fix the grammar of the sentence.", "She don't like apples.", "She doesn't like apples."),
    ]


def test_chat_answer_that_repeats_the_first_header_reads_the_same() -> None:
    assert examples("4. Instruction:" + COMPLETION) == examples(COMPLETION)
    assert examples("\n\n  4. Instruction:" + COMPLETION) == examples(COMPLETION)


def test_missing_separators_extra_whitespace_and_odd_numbering() -> None:
    drifted = (
        "4. Instruction:   Name three rivers that flow   through Germany.\n\n"
        "4. Input:\n\n<no input>\n\n4. Output:\n\n  The Rhine, the Elbe and the Danube.  \n\n"
        "9) Instruction: Classify the animal as a mammal, bird or reptile.\n"
        "9) Input: Penguin\n9) Output: Bird\n"
        "#####\n"
        "1. Instruction: Fix the grammar of the sentence.\n1. Input:\nShe don't like apples.\n"
        "1. Output:\nShe doesn't like apples.\n\n###\n\n"
    )
    assert examples(drifted) == examples(COMPLETION)


def test_markdown_headers_from_chat_models() -> None:
    text = "**Instruction:** Suggest a name for a bakery.\n**Input:** N/A\n**Output:** The Rolling Pin"
    assert examples(text) == [Example("Suggest a name for a bakery.", "", "The Rolling Pin")]


def test_missing_input_section_means_empty_input() -> None:
    assert examples(" Count to five in Spanish.\n4. Output:\nuno, dos, tres, cuatro, cinco") == [
        Example("Count to five in Spanish.", "", "uno, dos, tres, cuatro, cinco")
    ]


def test_multiline_input_and_output_are_kept_verbatim() -> None:
    text = (
        " Find the bug.\n4. Input:\ndef f(x):\n    return x +\n"
        "4. Output:\nThe expression is incomplete:\n    return x + 1"
    )
    assert examples(text) == [
        Example("Find the bug.", "def f(x):\n    return x +", "The expression is incomplete:\n    return x + 1")
    ]


def test_truncated_answer_drops_its_last_item() -> None:
    cut = COMPLETION[: COMPLETION.index("She doesn't")]
    result = examples(cut, finish_reason="length")
    assert result[:2] == examples(COMPLETION)[:2]
    assert result[2] == TRUNCATED
    # The same text that ended normally keeps its last item, read as-is.
    assert examples(cut, finish_reason="stop")[2] == Example(
        "Fix the grammar of the sentence.", "She don't like apples.", ""
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "I'm sorry, but I can't help with that.",
        "lorem ipsum dolor sit amet\n\n###\n\n",
        " Summarize the text.\n4. Input:\nsome text",  # no Output section
        "\n4. Output:\nonly an output",  # no instruction
    ],
)
def test_garbled_blocks_are_unparseable(garbage: str) -> None:
    assert examples(garbage) == [UNPARSEABLE]


def test_a_header_out_of_order_ends_the_task_and_what_follows_is_unparseable() -> None:
    text = " Do a thing here.\n4. Output:\nx\n4. Input:\ny"
    assert examples(text) == [Example("Do a thing here.", "", "x"), UNPARSEABLE]


def test_empty_answer_gives_nothing() -> None:
    assert examples("") == []
    assert examples("\n###\n") == []
    assert examples("", finish_reason="length") == [TRUNCATED]


def test_raw_text_of_each_block_is_kept_for_the_rejects_file() -> None:
    items = parse_answer(COMPLETION, "stop")
    assert items[1].raw.startswith("5. Instruction: Classify") and items[1].raw.endswith("Bird")


@pytest.mark.parametrize(
    "marker", ["<noinput>", "<no input>", "No input", "N/A", "n/a", "None", "(none)", "No input required.", "  "]
)
def test_no_input_markers_become_empty(marker: str) -> None:
    assert normalize_input(marker) == ""


@pytest.mark.parametrize("text", ["None of the above", "x = 3", "No", "NaN values"])
def test_real_inputs_are_kept(text: str) -> None:
    assert normalize_input(text) == text


@settings(max_examples=1000, deadline=None)
@given(st.text(st.sampled_from("###  \n\t\u3000\x85\u2028ab"), max_size=24))
def test_strip_separators_equals_the_separator_pattern(text: str) -> None:
    assert strip_separators(text) == _SEPARATOR.sub("", text)
