"""`alpaca-pipeline dedup` on existing Alpaca-format files: same decisions as the reference, clear errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner
from rouge_score import rouge_scorer

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.generation.dedup import rouge_tokens

RECORDS = [
    {"instruction": "Write a short poem about the rain in spring.", "input": "", "output": "Soft rain..."},
    {"instruction": "Write a short poem about the rain in autumn.", "input": "", "output": "Cold rain..."},
    {"instruction": "Explain how vaccines train the immune system.", "input": "", "output": "They show it..."},
    {"instruction": "Label the sentiment of the product review.", "input": "Great!", "output": "Positive", "id": 7},
    {"instruction": "Explain how vaccines train the human immune system.", "input": "", "output": "Same."},
]


def dedup(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["dedup", "--no-progress", *args])
    return result.exit_code, result.output


def test_json_list_in_and_out_with_annotations_rejects_and_summary(tmp_path: Path) -> None:
    source = tmp_path / "alpaca_data.json"
    source.write_text(json.dumps(RECORDS, indent=4))
    out = tmp_path / "clean.json"
    code, output = dedup(str(source), "--output", str(out))
    assert code == 0, output
    kept = json.loads(out.read_text())
    assert [record["instruction"] for record in kept] == [RECORDS[i]["instruction"] for i in (0, 2, 3)]
    assert kept[2]["id"] == 7  # extra fields survive
    assert kept[0]["max_rouge_l"] == 0.0 and kept[0]["most_similar_instructions"] == []
    rejected = read_jsonl(tmp_path / "clean.rejected.jsonl")
    assert [(record["record"], record["reason"]) for record in rejected] == [
        (1, "near_duplicate"),
        (4, "near_duplicate"),
    ]
    assert rejected[0]["most_similar_instructions"][0]["instruction"] == RECORDS[0]["instruction"]
    assert rejected[0]["max_rouge_l"] > 0.7 and rejected[0]["line"] > 1
    summary = json.loads((tmp_path / "clean.summary.json").read_text())
    assert (summary["records"], summary["kept"], summary["rejected"]) == (5, 3, 2)
    assert "Kept 3 of 5 records" in output


def test_seed_tasks_are_preloaded(tmp_path: Path, small_seed_path: Path) -> None:
    source = tmp_path / "data.jsonl"
    records = [{"instruction": "Convert the distance given in miles to kilometres, rounded to one decimal.",
                "input": "3 miles", "output": "4.8 km"}, RECORDS[2]]  # fmt: skip
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    out = tmp_path / "clean.jsonl"
    assert dedup(str(source), "-o", str(out), "--seed-tasks", str(small_seed_path))[0] == 0
    assert [record["instruction"] for record in read_jsonl(out)] == [RECORDS[2]["instruction"]]
    assert dedup(str(source), "-o", str(out))[0] == 0  # without seeds nothing is dropped
    assert len(read_jsonl(out)) == 2


def test_decisions_equal_a_brute_force_rouge_score_run(tmp_path: Path) -> None:
    rng = random.Random(11)
    verbs = ["write", "explain", "list", "describe", "summarize"]
    topics = "a poem about rain the water cycle three facts about owls how tides work a recipe for soup".split()
    records = [
        {"instruction": f"{rng.choice(verbs)} " + " ".join(rng.choice(topics) for _ in range(rng.randint(2, 7))),
         "input": "", "output": "x"}
        for _ in range(400)
    ]  # fmt: skip
    source = tmp_path / "stream.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert dedup(str(source), "-o", str(tmp_path / "out.jsonl"))[0] == 0
    kept_reference: list[list[str]] = []
    expected = []
    for record in records:
        tokens = rouge_tokens(record["instruction"])
        if all(rouge_scorer._score_lcs(tokens, kept).fmeasure <= 0.7 for kept in kept_reference):
            kept_reference.append(tokens)
            expected.append(record["instruction"])
    assert [record["instruction"] for record in read_jsonl(tmp_path / "out.jsonl")] == expected
    assert 10 < len(expected) < 400


def test_bad_records_are_rejected_with_their_reason_and_the_rest_is_kept(tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    records = [RECORDS[0], {"instruction": "Name a colour please.", "input": ""}, RECORDS[2], "text", RECORDS[3]]
    source.write_text(json.dumps(records, indent=2))
    code, output = dedup(str(source), "-o", str(tmp_path / "out.json"))
    assert code == 0 and "Kept 3 of 5 records; 0 near-duplicates dropped; 2 unusable records rejected" in output
    assert [record["instruction"] for record in json.loads((tmp_path / "out.json").read_text())] == [
        RECORDS[0]["instruction"], RECORDS[2]["instruction"], RECORDS[3]["instruction"],
    ]  # fmt: skip
    rejected = read_jsonl(tmp_path / "out.rejected.jsonl")
    assert [(r["record"], r["line"], r["reason"], r.get("detail")) for r in rejected] == [
        (1, 7, "missing_field", "field 'output' is missing"),
        (3, 16, "not_an_object", "expected a JSON object, got str"),
    ]
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["reasons"] == {"missing_field": 1, "not_an_object": 1}


def test_a_file_that_is_no_dataset_stops_with_one_line(tmp_path: Path) -> None:
    source = tmp_path / "notes.json"
    source.write_text('[\n  {"instruction": "Name a colour please.", "input": "", "output": "Red"},\n  oops\n]')
    code, output = dedup(str(source), "-o", str(tmp_path / "out.json"))
    assert code == 1
    assert output.strip() == f"Error: {source}:3: invalid JSON (lexical error: invalid char in json text.)"
    assert not (tmp_path / "out.json").exists()


def test_output_may_not_overwrite_input(tmp_path: Path) -> None:
    source = tmp_path / "data.json"
    source.write_text(json.dumps(RECORDS))
    code, output = dedup(str(source), "-o", str(source))
    assert code == 1 and "would overwrite the input" in output
    assert json.loads(source.read_text()) == RECORDS
