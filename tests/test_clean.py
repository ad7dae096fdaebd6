"""`alpaca-pipeline clean` on a file of the released 52K's shape: every injected defect counted under its reason,
repairs listed on kept records, outputs that appear together or not at all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.quality.defective import make_dataset

SIZE = 2_000


def clean(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["clean", "--no-progress", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    made = make_dataset(SIZE, seed=4, minimum=3)
    path = tmp_path_factory.mktemp("released") / "alpaca_data.json"
    path.write_text(json.dumps(made.records, indent=4))  # stanford_alpaca's jdump layout
    return path, made


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory, dataset: tuple[Path, object]) -> tuple[Path, str]:
    """One run of `clean` on the dataset, shared by the tests that only read its outputs."""
    out = tmp_path_factory.mktemp("cleaned") / "clean"
    code, output = clean(str(dataset[0]), "-o", str(out))
    assert code == 0, output
    return out, output


def test_counts_per_reason_and_repair_equal_what_was_injected(
    cleaned: tuple[Path, str], dataset: tuple[Path, object]
) -> None:
    path, made = dataset
    out, output = cleaned
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reasons"] == dict(made.reasons) and summary["repairs"] == dict(made.repairs)
    assert summary["records"] == SIZE and summary["kept"] + summary["rejected"] == SIZE
    rejected = read_jsonl(out / "rejected.jsonl")
    assert {row["record"]: row["reasons"] for row in rejected} == {
        number: [kind] for number, kind in made.injected.items() if kind in made.reasons
    }
    # the original fields travel with each reject, with the line the record starts on
    empty = next(row for row in rejected if row["reasons"] == ["empty_output"])
    assert empty["output"] == "" and empty["instruction"] == made.records[empty["record"]]["instruction"]
    assert path.read_text().split("\n")[empty["line"] - 1] == "    {"
    duplicate = next(row for row in rejected if row["reasons"] == ["near_duplicate"])
    assert duplicate["max_rouge_l"] == 1.0 and duplicate["most_similar_instructions"][0]["score"] == 1.0
    assert f"Kept {summary['kept']:,} of {SIZE:,} records" in output and "empty_output 3" in output


def test_repaired_records_are_kept_with_their_repairs(cleaned: tuple[Path, str], dataset: tuple[Path, object]) -> None:
    _, made = dataset
    out = cleaned[0]
    kept = {row["record"]: row for row in read_jsonl(out / "kept.jsonl")}
    repaired = {number: kind for number, kind in made.injected.items() if kind in made.repairs}
    assert {number: kept[number]["repairs"] for number in repaired} == {n: [kind] for n, kind in repaired.items()}
    for number, kind in repaired.items():
        row, original = kept[number], made.records[number]
        if kind == "no_input_marker":
            assert row["input"] == "" and original["input"].strip()
        elif kind == "zero_width_characters":
            assert row["instruction"] == original["instruction"].replace("\u200b", "")
        elif kind == "control_characters":
            assert row["output"] == original["output"].replace("\x07", "")
        else:
            assert row["output"] == original["output"].strip() != original["output"]
    untouched = [row for number, row in kept.items() if number not in repaired]
    assert all(row["repairs"] == [] and 0 <= row["max_rouge_l"] <= 0.7 for row in untouched)
    scored = [row for row in untouched if row["max_rouge_l"] > 0]
    assert len(scored) > 100
    assert all(row["most_similar_instructions"][0]["score"] == row["max_rouge_l"] for row in scored)
    # alpaca_data.json: the kept records' fields only, in stanford_alpaca's layout, ready to train on
    alpaca = json.loads((out / "alpaca_data.json").read_text())
    assert alpaca == [{name: row[name] for name in ("instruction", "input", "output")} for row in kept.values()]
    assert (out / "alpaca_data.json").read_text().startswith('[\n    {\n        "instruction": ')
    report = (out / "report" / "report.md").read_text()
    assert "| Records read | 2,000 |" in report and "`empty_output`" in report
    assert (out / "report" / "rejects.png").stat().st_size > 1000


def test_jsonl_gives_the_same_result_as_the_json_list(tmp_path: Path, dataset: tuple[Path, object]) -> None:
    path, made = dataset
    lines = tmp_path / "alpaca_data.jsonl"
    lines.write_text("".join(json.dumps(record) + "\n" for record in made.records))
    assert clean(str(path), "-o", str(tmp_path / "a"), "--no-dedup")[0] == 0
    assert clean(str(lines), "-o", str(tmp_path / "b"), "--no-dedup")[0] == 0
    assert (tmp_path / "a" / "kept.jsonl").read_bytes() == (tmp_path / "b" / "kept.jsonl").read_bytes()
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert "near_duplicate" not in summary["reasons"] and summary["dedup"] is False


def test_rules_can_be_chosen(tmp_path: Path, dataset: tuple[Path, object]) -> None:
    path, made = dataset
    code, output = clean(str(path), "-o", str(tmp_path / "out"), "--rules", "url_reference,unusable_input")
    assert code == 0, output
    reasons = json.loads((tmp_path / "out" / "summary.json").read_text())["reasons"]
    structural = {"empty_output", "missing_field", "wrong_field_type", "not_an_object", "near_duplicate"}
    # an empty output is no rule's business: a record without an answer is always rejected
    assert set(reasons) == structural | {"input_is_url", "instruction_has_url", "input_is_media_placeholder"}
    code, output = clean(str(path), "-o", str(tmp_path / "out"), "--rules", "url_reference,typo_rule")
    assert code == 2 and "unknown rule(s) typo_rule; choose from instruction_length," in output


def test_unreadable_input_stops_with_one_line_and_keeps_the_old_outputs(
    tmp_path: Path, dataset: tuple[Path, object], cleaned: tuple[Path, str]
) -> None:
    path, _ = dataset
    out = tmp_path / "clean"
    shutil.copytree(cleaned[0], out)
    before = {name: (out / name).read_bytes() for name in ("kept.jsonl", "summary.json")}
    torn = tmp_path / "torn.json"
    torn.write_text(path.read_text()[: len(path.read_text()) // 2])
    code, output = clean(str(torn), "-o", str(out))
    assert code == 1 and output.startswith(f"Error: {torn}:") and "invalid JSON (parse error: premature EOF)" in output
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not (tmp_path / ".clean.partial").exists() or not (tmp_path / ".clean.partial" / "summary.json").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, output = clean(str(path), "-o", str(foreign))
    assert code == 1 and "exists and is not the output of an earlier clean" in output
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_a_kill_leaves_the_old_outputs_or_the_new_ones_never_a_mix(tmp_path: Path) -> None:
    """Killed while writing, the output folder still holds one whole earlier run: its summary counts its kept file."""
    made = make_dataset(6_000, seed=9, minimum=3, novel_base=False)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(made.records, indent=4))
    small = tmp_path / "small.json"
    small.write_text(json.dumps(made.records[:300], indent=4))
    out = tmp_path / "clean"
    assert clean(str(small), "-o", str(out), "--no-dedup")[0] == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "flows.cli", "clean", str(path), "-o", str(out), "--no-progress"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial_kept = tmp_path / ".clean.partial" / "kept.jsonl"
    try:
        while process.poll() is None and not (partial_kept.exists() and partial_kept.stat().st_size > 0):
            time.sleep(0.01)  # poll for the condition: the new kept file is being written
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL  # killed mid-run, not finished
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] == 300  # the earlier run, whole
    assert len(read_jsonl(out / "kept.jsonl")) == summary["kept"]
    assert clean(str(path), "-o", str(out), "--no-dedup")[0] == 0  # and the next run replaces it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] == 6_000 and len(read_jsonl(out / "kept.jsonl")) == summary["kept"]
    assert not (tmp_path / ".clean.partial").exists()


def test_help() -> None:
    result = CliRunner().invoke(main, ["clean", "--help"])
    assert result.exit_code == 0 and "--no-dedup" in result.output and "--rules NAME,..." in result.output


def test_self_instruct_tasks_are_cleaned_by_their_first_instance(tmp_path: Path, small_seed_path: Path) -> None:
    lines = small_seed_path.read_text().splitlines()
    broken = json.loads(lines[0]) | {"instances": [{"input": "<noinput>", "output": ""}]}
    source = tmp_path / "seeds.jsonl"
    source.write_text("\n".join([*lines, json.dumps(broken)]) + "\n")
    assert clean(str(source), "-o", str(tmp_path / "out"), "--no-dedup")[0] == 0
    kept, rejected = read_jsonl(tmp_path / "out" / "kept.jsonl"), read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert len(kept) == len(lines) and kept[0]["id"] == "seed_task_0" and kept[2]["output"] == "42.2 km"
    assert [(row["record"], row["reasons"]) for row in rejected] == [(len(lines), ["empty_output"])]


def test_a_wrapper_object_is_no_dataset(tmp_path: Path) -> None:
    source = tmp_path / "hub.json"
    source.write_text(json.dumps({"version": 1, "data": [{"instruction": "Name a colour.", "output": "Red"}]}))
    code, output = clean(str(source), "-o", str(tmp_path / "out"))
    assert code == 1 and f"{source}:1: an object with no instruction/input/output but a list under 'data'" in output
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()
