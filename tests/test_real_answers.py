"""What real models write: answers of a real teacher (SmolLM2-135M-Instruct on llama.cpp's OpenAI-compatible server),
saved verbatim in tests/data/real_answers.jsonl, parsed and filtered, and replayed through `generate` over HTTP.

`source` in the data file names the run an answer came from (see tests/data/README.md): `chat-seed0` is the shared
corpus the parser was written against; the UNSEEN sources are runs the parser had not seen when its rules were
written, and are replayed through `generate` below.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.core.records import Example
from pipeline.generation.filters import check_example
from pipeline.generation.parse import TRUNCATED, UNPARSEABLE, parse_answer
from pipeline.generation.prompts import request_seed

DATA = Path(__file__).parent / "data" / "real_answers.jsonl"
UNSEEN = ("completions-seed0", "completions-seed1", "chat-seed2")

# Defects a kept example must not carry, checked with patterns broader than the quality rules' own, so that a rule
# that misses a form of the defect shows here (each was seen in real answers; see the issue of this file).
AUDIT: dict[str, Any] = {
    "field_header": lambda e: any(
        re.search(r"(?:^|\d[.)]?|[-*#])\s*\**\s*(?:instruction|input|output)s?\s*\**\s*:", text, re.I | re.M)
        for text in (e["instruction"], e["input"], e["output"])
    ),
    "placeholder": lambda e: bool(  # a bracketed slot (not a list comprehension) or a "__" blank
        re.search(r"(?<![\w\])])\[(?![^\]]*\bfor\b)[^\]\d\"',=]{2,}\](?!\()|(?<!\w)_{2,}(?!\w)", e["output"])
    ),
    "prompt_echo": lambda e: bool(
        re.search(
            r"\b\d+\s+(?:\w+\s+)?tasks\b|\btasks?\b.*\binstructions?\b|<\s*no\s*input\s*>", e["instruction"], re.I
        )
    ),
    "no_input_marker_with_text": lambda e: bool(re.search(r"no[\s_-]*input|\bn/a\b", e["input"], re.I)),
    "program_task": lambda e: bool(re.search(r"\bprograms?\b", e["instruction"], re.I)),
}


def audit(example: dict[str, str]) -> list[str]:
    """The defects of AUDIT an example carries: `audit({"instruction": "x", "input": "", "output": "[date]"})`."""
    return [name for name, check in AUDIT.items() if check(example)]


def answers(source: str | None = None) -> list[dict[str, Any]]:
    rows = read_jsonl(DATA)
    return [row for row in rows if source is None or row["source"] == source]


def outcomes(row: dict[str, Any]) -> list[str]:
    """Each candidate of an answer: "keep: <the instruction's first 60 characters>" or the reason it is dropped."""
    result = []
    for item in parse_answer(row["text"], row["finish_reason"]):
        reason = item.reason or check_example(item.example)
        result.append(reason or f"keep: {item.example.instruction[:60]}")
    return result


def answer(source: str, request_index: int) -> dict[str, Any]:
    return next(row for row in answers(source) if row["request_index"] == request_index)


# Real answers and what must come of them: (source, request_index, outcomes in order).
TABLE = [
    # no task at all: one unparseable item, with the answer as raw
    ("chat-seed0", 0, ["unparseable"]),
    # a task numbered 1., 2., 3. line by line is still one task
    ("chat-seed0", 1, ["keep: What's a great way to celebrate a big milestone?"]),
    # a leading ### is skipped, not made a phantom task
    ("chat-seed0", 2, ["unparseable"]),
    # a chat preamble ("The output of this list is:") is skipped; tasks without output are unparseable
    ("chat-seed0", 5, ["unparseable", "unparseable"]),
    # an emoji-only input; the repeated "4. Output:" after the task is its own unparseable item
    ("chat-seed0", 21, ["input_without_words", "unparseable"]),
    # a "__" blank in the output
    ("chat-seed0", 25, ["placeholder_in_output"]),
    # "<noinput>\n7. Question: ..." inputs; a repeated output ends the task instead of staying in it
    ("chat-seed0", 26, [
        "keep: Read the paragraph \"The company will be able to make a decis",
        "unparseable",
        "input_marker_with_text",
        "header_in_output",
        "input_marker_with_text",
        "unparseable",
    ]),
    # "1. Instructions:" (plural) starts a block; bullets "- Instruction:" too
    ("chat-seed0", 29, ["unparseable", "unparseable", "unparseable", "unparseable", "unparseable", "unparseable"]),
    # "5. Instructions:" inside an output starts a new block instead of leaking
    ("chat-seed0", 33, [
        "keep: Classify the traveler's intent as one of: book_flight, cance",
        "keep: Create a function which can perform any task without asking ",
        "unparseable",
        "blocklisted_word",
        "unparseable",
        "keep: To be able to find something or tell someone how you can use",
        "keep: Explain this to me again yet another way but I am using my m",
    ]),
    # an output made only of headers
    ("chat-seed0", 36, ["empty_output"]),
    # "1. Instructions:" with only headers after it
    ("chat-seed0", 38, ["unparseable"]),
    # "2. Instructions:" at a line start splits the block
    ("chat-seed0", 43, ["unparseable", "keep: The \"Siren's Whisley\" movie has been made up entirely by a t"]),
    # an output ending in a stray numbered label ("4. Sentence:")
    ("chat-seed0", 44, ["header_in_output"]),
    # "...go home!\n4. Output:": the stray header is dropped, the task kept
    ("chat-seed0", 58, ["keep: If you can't believe it, why not?"]),
    # "What is a list containing 20 tasks ...": the prompt echoed
    ("chat-seed0", 63, ["instruction_echoes_prompt", "unparseable"]),
    # an essay about "20 different tasks" with no task in it
    ("chat-seed0", 65, ["unparseable"]),
    # "- no input - nothing at all."
    ("chat-seed0", 74, ["input_marker_with_text", "unparseable"]),
    # "[date]" left in the output
    ("chat-seed0", 101, ["placeholder_in_output"]),
    # the Golang program task has no output of its own; the code block after it is read as a task
    ("chat-seed0", 107, ["unparseable", "unparseable", "unparseable", "keep: The output of the task is as follows."]),
    # an unnumbered "Output:" after a complete task
    ("chat-seed0", 135, ["keep: Reconstruct the text by arranging the digits 2-9 in numerica", "unparseable"]),
]  # fmt: skip


@pytest.mark.parametrize(("source", "request_index", "expected"), TABLE, ids=[f"{s}-{i}" for s, i, _ in TABLE])
def test_real_answer(source: str, request_index: int, expected: list[str]) -> None:
    assert outcomes(answer(source, request_index)) == expected


def test_raw_is_always_text_the_model_wrote() -> None:
    for row in answers():
        for item in parse_answer(row["text"], row["finish_reason"]):
            assert item.raw in row["text"] or item.raw == row["text"].strip(), (row["source"], row["request_index"])


class _Replay(BaseHTTPRequestHandler):
    """A teacher that answers request i of a run with the saved real answer i (found by the request's seed), and
    lists the one model that wrote them."""

    model: str
    by_seed: dict[int, dict[str, Any]]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._send(200, {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "me"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        saved = self.by_seed.get(body.get("seed"))
        if saved is None or body.get("model") != self.model:
            self._send(404, {"error": {"message": "no saved answer for this request", "type": "not_found"}})
            return
        usage = {"prompt_tokens": saved["prompt_tokens"], "completion_tokens": saved["completion_tokens"]}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        chat = self.path.endswith("/chat/completions")
        choice: dict[str, Any] = {"index": 0, "finish_reason": saved["finish_reason"], "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": saved["text"]}
        else:
            choice["text"] = saved["text"]
        self._send(200, {"id": f"replay-{saved['request_index']}", "object": "chat.completion" if chat
                         else "text_completion", "created": 0, "model": self.model, "choices": [choice],
                         "usage": usage})  # fmt: skip

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def replay() -> Iterator[Any]:
    servers = []

    def start(rows: list[dict[str, Any]]) -> str:
        handler = type("Replay", (_Replay,), {"model": rows[0]["model"], "by_seed": {
            request_seed(row["run_seed"], row["request_index"]): row for row in rows}})  # fmt: skip
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("source", UNSEEN)
def test_unseen_real_answers_replayed_through_generate_keep_no_defect(
    replay, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    rows = answers(source)
    first = rows[0]
    base_url = replay(rows)
    out = tmp_path / "run"
    args = ["generate", "--no-progress", "--no-cache", "-n", "1000", "-o", str(out), "--base-url", base_url,
            "--api", first["api"], "--seed", str(first["run_seed"]), "--max-requests", str(len(rows))]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    kept = read_jsonl(out / "kept.jsonl")
    assert stats["answers"] == len(rows) and stats["stopped"] == "max_requests"
    assert kept and {record["teacher_model"] for record in kept} == {first["model"]}  # credited without --model
    assert {record["reason"] for record in read_jsonl(out / "rejected.jsonl")} >= {UNPARSEABLE}
    assert [(record["instruction"], audit(record)) for record in kept if audit(record)] == []
    assert "At this run's yield the target needs ~" in result.output
    assert stats["projected"]["requests"] > len(rows) and stats["projected"]["from_answers"] == len(rows)


def test_the_audit_catches_each_defect_it_names() -> None:
    clean = {"instruction": "Name three rivers in Germany.", "input": "", "output": "The Rhine, Elbe and Danube."}
    assert audit(clean) == []
    defects = {
        "field_header": {"output": "Rhine\n7. Output:\nRhine"},
        "placeholder": {"output": "Dear [Your Name], we met on [date]."},
        "prompt_echo": {"instruction": "What is a list containing 20 tasks that are simple?"},
        "no_input_marker_with_text": {"input": "<noinput>\n10. Question: why?"},
        "program_task": {"instruction": "Implement it in Golang by creating a simple executable program."},
    }
    for name, change in defects.items():
        assert audit({**clean, **change}) == [name]


def test_truncated_real_answers_drop_their_last_item() -> None:
    cut = [row for row in answers() if row["finish_reason"] == "length"]
    assert cut
    for row in cut:
        assert outcomes(row)[-1] == TRUNCATED


# Fragments of real answers quoted in the issue that filed these rules, from runs not saved here; "4. Instruction:"
# is where the completion prompt ends.
ISSUE_FRAGMENTS = [
    # a repetition loop: the first output is the task's, the repeats are one unparseable item
    (" Write a sentence about a wish.\n7. Output:\nI always wished to fly.\n7. Output:\nI always wished to fly.\n"
     "7. Output:\nI always wished", ["keep: Write a sentence about a wish.", "unparseable"]),
    # headers after the output; the input of a task that never got an instruction
    (" Repeat a word three times.\n4. Output:\nLove, love, love\n4. Output:\n<noinput>\n5. Input:\n12 + 1 / (x + y)",
     ["keep: Repeat a word three times.", "unparseable"]),
    # an output made only of headers
    (" Give the instructions to make a salad.\n2. Output:\n 4. Output:\n 5. Output:", ["empty_output"]),
    # a plural header leaking into an input
    (" Explain the rule of the game.\n4. Input:\nChess\n5. Instructions: 1. Explain it\n5. Output:\nx",
     ["unparseable", "instruction_too_short"]),
    (" Describe the knot used to tie a boat.\n4. Input:\n<noinput>\n4. Output:\nTie the [Tie-up] first.",
     ["placeholder_in_output"]),
    (" 20 different tasks must not have any instructions except these.\n4. Input:\n<noinput>\n4. Output:\nOk.",
     ["instruction_echoes_prompt"]),
    (" Ask a question about the weather today.\n4. Input:\n<noinput>\n10. Question: Is it cold?\n4. Output:\nIt is.",
     ["input_marker_with_text"]),
    (" Implement a new product using the Go framework, in Golang, by creating a simple executable program.\n"
     "4. Input:\n<noinput>\n4. Output:\npackage main", ["write_a_program"]),
    # a chat preamble and a separator before the first header: skipped, no phantom task
    # a recipe's "Instructions:" section stays in the output; a numbered or bulleted plural is a header
    (" Give a recipe for pancakes.\n4. Input:\n<noinput>\n4. Output:\nIngredients: flour, eggs.\nInstructions: Mix,"
     " then fry.\n- Instructions: Name a fruit.\n5. Output:\nApple", ["keep: Give a recipe for pancakes.",
                                                                    "instruction_too_short"]),
    ("Sure! Here are more tasks:\n\n###\n4. Instruction: Name a river in Spain.\n4. Input:\n<noinput>\n"
     "4. Output:\nEbro",
     ["keep: Name a river in Spain."]),
    # a training program is not a program task
    (" Create a training program for a first marathon.\n4. Input:\n<noinput>\n4. Output:\nRun three times a week.",
     ["keep: Create a training program for a first marathon."]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), ISSUE_FRAGMENTS)
def test_fragment_quoted_in_the_issue(text: str, expected: list[str]) -> None:
    assert outcomes({"text": text, "finish_reason": "stop"}) == expected


def test_a_stray_header_after_a_complete_task_leaves_the_task_whole() -> None:
    items = parse_answer(" Say where you go.\n4. Input:\n<noinput>\n4. Output:\nI go home!\n4. Output:\n###\n", "stop")
    assert [item.example for item in items] == [Example("Say where you go.", "", "I go home!")]
    assert items[0].raw == "Say where you go.\n4. Input:\n<noinput>\n4. Output:\nI go home!"


def task(instruction: str = "Describe the weather in Paris.", task_input: str = "", output: str = "Sunny.") -> Example:
    return Example(instruction, task_input, output)


@pytest.mark.parametrize(
    ("example", "reason"),
    [
        (task(output="2. Output:\n  4. Output:\n  5. Output:"), "output_only_headers"),
        (task(output="Sunny.\n7. Output:\nSunny again."), "header_in_output"),
        (task(output="Sunny. 7) Input: Paris"), "header_in_output"),
        (task(output="Thank you.\n4. Sentence:"), "header_in_output"),
        (task(output='8. Question: "Why is it sunny?"'), "header_in_output"),
        (task("Describe the movie. 2. Instructions: The movie is about a spy."), "header_in_instruction"),
        (task("Describe the list of tasks below. - Instruction:"), "header_in_instruction"),
        (task(task_input="Paris\n### Input: Lyon"), "header_in_input"),
        (task(output="Dear [Your Name], see you on [date]."), "placeholder_in_output"),
        (task(output="She was so __ that she fell asleep."), "placeholder_in_output"),
        (task(task_input="[Insert the city here]"), "placeholder_in_input"),
        (task("What is a list containing 20 tasks that are both simple and difficult?"), "instruction_echoes_prompt"),
        (task("Make sure the above tasks follow the requirements."), "instruction_echoes_prompt"),
        (task(task_input="<noinput>\n10. Question: Is it cold?"), "input_marker_with_text"),
        (task(task_input="- no input - nothing at all."), "input_marker_with_text"),
        (task(task_input="🌟"), "input_without_words"),
        (task("Write a Python program that prints the weather."), "write_a_program"),
        (task("Explain how to deploy it in Golang, by creating a simple executable program."), "write_a_program"),
        # what the rules must leave alone
        (task(output="Use lst[i] to read item i, or see [the docs](https://docs.python.org)."), None),
        (task(output="squares = [x for x in range(10)]"), None),
        (task(output="Define __init__ to set up the object."), None),
        (task("Fill in the blank with a fitting word.", "She was so __ that she fell asleep.", "tired"), None),
        (task("What does this emoji mean?", "🌟", "A star: something excellent."), None),
        (task("Pick the right option.", "None of the above", "C"), None),
        (task("Create a training program for a first marathon."), None),
        (task("List three tasks to do before moving house."), None),
        (task(output="1. Preheat the oven.\n2. Ingredients: flour, eggs."), None),
        (task(output="Ingredients: flour, eggs.\nInstructions: Mix them, then bake for 20 minutes."), None),
        (task(output='def area(w, h):\n    """Inputs: width and height. Outputs: the area."""'), None),
    ],
)
def test_real_answer_rules(example: Example, reason: str | None) -> None:
    assert check_example(example) == reason


def test_a_recipe_keeps_its_instructions_section() -> None:
    recipe = "Ingredients: flour, eggs.\nInstructions: Mix."
    (item,) = parse_answer(f" Give a recipe for pancakes.\n4. Output:\n{recipe}", "stop")
    assert item.example == Example("Give a recipe for pancakes.", "", recipe)
    assert check_example(item.example) is None
