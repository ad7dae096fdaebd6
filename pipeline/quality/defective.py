"""A dataset of the released alpaca_data.json's shape with known defects: the offline teacher's grammar writes clean
records, and each defect class of the 52K is injected into its own records at about the released file's rate.

Every injected record breaks exactly one rule (or needs exactly one repair), so the counts `clean` reports can be
checked against what was injected. For tests and `benchmarks/bench_clean.py`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.core.records import Example
from pipeline.generation.dedup import RougeIndex
from pipeline.simulator.grammar import AUDIENCES, NOUNS, TOPICS, draw_task, pick

RELEASED_RECORDS = 52_002
# Records per 52,002: the counts on the released file where known (empty output 28, URL input 197, media
# placeholder 58, placeholder output 38, leaked next task 37), a few dozen for the classes it names without counts.
DEFECT_RATES: dict[str, int] = {
    "empty_output": 28, "input_is_url": 197, "instruction_has_url": 40, "input_is_media_placeholder": 58,
    "input_refers_to_absent_media": 46, "placeholder_output": 38, "output_has_no_output_marker": 30,
    "output_leaks_next_task": 37, "output_holds_another_task": 24, "wrong_arithmetic_answer": 25,
    "instruction_refers_to_absent_input": 40, "input_equals_output": 26, "near_duplicate": 60,
    "missing_field": 3, "wrong_field_type": 3, "not_an_object": 2,
}  # fmt: skip
REPAIR_RATES: dict[str, int] = {
    "no_input_marker": 300, "control_characters": 12, "zero_width_characters": 12, "surrounding_whitespace": 60,
}  # fmt: skip
CORRECT_ECHOES = 26  # input == output and right ("the past participle of 'run'"): to be kept
URL_INSTRUCTIONS = ("Summarize the article at the link below.", "What is the main argument of this blog post?",
                    "List the key points of the page below.", "Check the facts in this news story.")  # fmt: skip
MEDIA_INPUTS = ("[Chart of monthly sales]", "See the attached video.", "Photo of the team at the conference",
                "Attached: Q3_results_chart.png", "(see image above)")  # fmt: skip
MEDIA_PLACEHOLDERS = ("<Picture Attached>", "<image>", "[Image]", "photo.jpg", '<img src="chart.png">')
NO_INPUT_MARKERS = ("<noinput>", "No input", "N/A", "None", "<no input>", "No input.", "noinput")
ABSENT_CONTEXT = ("Summarize the following article in three sentences.", "Find the grammatical error in the given "
                  "sentence.", "Identify the main topic of the following text.", "Translate this paragraph into "
                  "Spanish.")  # fmt: skip
EDIT_TASKS = ("Rewrite the following sentence in the passive voice.", "Correct the grammar of the sentence.",
              "Paraphrase the sentence in simpler words.")  # fmt: skip
ECHOES = (("What is the past participle of the verb?", "Run"), ("Give the plural form of this noun.", "sheep"),
          ("Spell out the abbreviation in full, if it has one.", "NASA"), ("Return the longest word.", "banana"),
          ("Which planet is the largest in our solar system?", "Jupiter"),
          ("Name the capital city that appears in the input.", "Paris"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DefectiveDataset:
    """The records, what was injected where, and what `clean` must report."""

    records: list[object]  # dicts, and the odd non-object element
    injected: dict[int, str]  # record index -> defect reason or repair name
    reasons: Counter[str]  # expected rejected records per reason
    repairs: Counter[str]  # expected records per repair


def scaled(rates: dict[str, int], size: int, minimum: int) -> dict[str, int]:
    """Counts for a file of `size` records at the released file's rates, at least `minimum` of each."""
    return {name: max(minimum, round(rate * size / RELEASED_RECORDS)) for name, rate in rates.items()}


def make_dataset(size: int, seed: int = 0, minimum: int = 1, novel_base: bool = True) -> DefectiveDataset:
    """`size` records: clean grammar tasks, with each defect and repair of the rate tables at its own records.

    With `novel_base` the clean records are drawn so that none is a near-duplicate of an earlier one (as in the
    released file, whose generation applied the ROUGE-L rule), so `near_duplicate` counts only injected copies;
    without it (fast, for large benchmark files) the grammar's own near-duplicates come on top.
    """
    rng = random.Random(seed)
    defects = scaled(DEFECT_RATES, size, minimum)
    repairs = scaled(REPAIR_RATES, size, minimum)
    plan = [name for name, count in {**defects, **repairs}.items() for _ in range(count)]
    plan += ["correct_echo"] * min(len(ECHOES), max(minimum, round(CORRECT_ECHOES * size / RELEASED_RECORDS)))
    if len(plan) > size // 2:
        raise ValueError(f"{size} records are too few for {len(plan)} injected defects; make a larger file")
    slots = sorted(rng.sample(range(size // 10, size), len(plan)))  # after a clean start, so copies have sources
    order = rng.sample(plan, len(plan))
    at = dict(zip(slots, order, strict=True))
    index = RougeIndex() if novel_base else None
    records: list[object] = []
    clean: list[Example] = []
    echoes = iter(rng.sample(ECHOES, len(ECHOES)))
    for number in range(size):
        kind = at.get(number)
        if kind is None:
            example = _novel_task(rng, index)
            clean.append(example)
            records.append(example.to_dict())
        elif kind == "correct_echo":  # kept: it joins the pool like a clean record
            instruction, answer = next(echoes)
            if index is not None:
                index.add(instruction)
            records.append({"instruction": instruction, "input": answer, "output": answer})
        elif kind in REPAIR_RATES:  # kept after the repair: drawn novel like a clean record
            records.append(REPAIRS[kind](rng, _novel_task(rng, index, 0.0 if kind == "no_input_marker" else 0.4)))
        else:
            records.append(INJECTORS[kind](rng, clean))
    injected = {number: kind for number, kind in at.items() if kind != "correct_echo"}
    return DefectiveDataset(records, injected, Counter(defects), Counter(repairs))


def _novel_task(rng: random.Random, index: RougeIndex | None, input_share: float = 0.4) -> Example:
    while True:
        example = draw_task(rng, input_share)
        if index is None or index.add_if_novel(example.instruction).is_novel:
            return example


def _url(rng: random.Random) -> str:
    slug = "-".join(rng.sample(NOUNS, 3))
    return f"https://www.{pick(rng, NOUNS).replace(' ', '')}news.com/{rng.randint(2015, 2025)}/{slug}"


def _task(rng: random.Random, with_input: bool | None = None) -> Example:
    share = {None: 0.4, True: 1.0, False: 0.0}[with_input]
    return draw_task(rng, input_share=share)


def _insert(text: str, rng: random.Random, characters: str) -> str:
    at = rng.randrange(1, max(len(text), 2))
    return text[:at] + characters + text[at:]


def _with(example: Example, **fields: object) -> dict[str, object]:
    return {**example.to_dict(), **fields}


Injector = Callable[[random.Random, list[Example]], object]
INJECTORS: dict[str, Injector] = {
    "empty_output": lambda rng, _: _with(_task(rng), output=""),
    "missing_field": lambda rng, _: {"instruction": _task(rng).instruction, "input": ""},
    "wrong_field_type": lambda rng, _: _with(_task(rng, False), input=None),
    "not_an_object": lambda rng, _: _task(rng).instruction,
    "input_is_url": lambda rng, _: _with(_task(rng), instruction=pick(rng, URL_INSTRUCTIONS), input=_url(rng)),
    "instruction_has_url": lambda rng, _: _with(
        _task(rng, False), instruction=f"Summarize the article at {_url(rng)} in three sentences."
    ),
    "input_is_media_placeholder": lambda rng, _: _with(
        _task(rng),
        instruction=f"Describe the attached document for {pick(rng, AUDIENCES)}.",
        input=pick(rng, MEDIA_PLACEHOLDERS),
    ),  # fmt: skip
    "input_refers_to_absent_media": lambda rng, _: _with(
        _task(rng),
        instruction=f"Explain what the attachment shows about {pick(rng, TOPICS)}.",
        input=pick(rng, MEDIA_INPUTS),
    ),  # fmt: skip
    "placeholder_output": lambda rng, _: _with(_task(rng), output=rng.choice(("N/A", "<nooutput>", "<No Output>"))),
    "output_has_no_output_marker": lambda rng, _: _with(
        _task(rng),
        output=rng.choice(
            (
                "<No Output>. A text model cannot do this.",
                "Here it is: <nooutput>",
                "<noinput>\nThis needs a recording.",
            )
        ),
    ),  # fmt: skip
    "output_leaks_next_task": lambda rng, _: _with(
        (task := _task(rng)), output=f"{task.output}\n##\n{rng.randint(5, 19)}. Instruction: {_task(rng).instruction}"
    ),
    "output_holds_another_task": lambda rng, _: _with(
        (task := _task(rng)), output=f"{task.output}\n\n### Instruction: {_task(rng).instruction}"
    ),
    "wrong_arithmetic_answer": lambda rng, _: _arithmetic(rng),
    "instruction_refers_to_absent_input": lambda rng, _: _with(
        _task(rng, False), instruction=pick(rng, ABSENT_CONTEXT)
    ),
    "input_equals_output": lambda rng, _: _with(
        (task := _task(rng, True)), instruction=pick(rng, EDIT_TASKS), output=task.input
    ),
    "near_duplicate": lambda rng, clean: _with(rng.choice(clean), output=_task(rng).output),  # a copy, reanswered
}


REPAIRS: dict[str, Callable[[random.Random, Example], dict[str, object]]] = {
    "no_input_marker": lambda rng, task: _with(task, input=pick(rng, NO_INPUT_MARKERS)),
    "control_characters": lambda rng, task: _with(task, output=_insert(task.output, rng, "\x07")),
    "zero_width_characters": lambda rng, task: _with(task, instruction=_insert(task.instruction, rng, "\u200b")),
    "surrounding_whitespace": lambda rng, task: _with(task, output=f"  {task.output}\n"),
}


def _arithmetic(rng: random.Random) -> dict[str, object]:
    a, b = rng.randint(12, 999), rng.randint(2, 99)
    symbol, value = rng.choice((("+", a + b), ("-", a - b), ("×", a * b), ("*", a * b)))
    wrong = value + rng.choice((-10, -2, -1, 1, 2, 10))
    if rng.random() < 0.5:
        return {"instruction": f"What is {a} {symbol} {b}?", "input": "", "output": str(wrong)}
    return {"instruction": "Calculate the value of the expression.", "input": f"{a} {symbol} {b}",
            "output": f"{a} {symbol} {b} = {wrong}"}  # fmt: skip
