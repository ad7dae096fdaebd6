"""`generate` end to end over real HTTP: the official client against the offline teacher on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.generation.dedup import RougeIndex
from pipeline.generation.parse import TRUNCATED, UNPARSEABLE
from pipeline.generation.seeds import default_seed_path, load_seed_tasks

FILTER_REASONS = {
    "instruction_too_short", "instruction_too_long", "blocklisted_word", "write_a_program", "starts_with_punctuation",
    "non_ascii_start", "empty_output", "placeholder_output", "output_leaks_next_task", "input_is_url",
    "input_is_media_placeholder", "input_equals_output",
}  # fmt: skip
KNOWN_REASONS = FILTER_REASONS | {UNPARSEABLE, TRUNCATED, "near_duplicate"}


@pytest.fixture
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield


def at(server) -> list[str]:
    return ["--base-url", server.base_url, "--model", "simulated-teacher"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["generate", "--no-progress", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_generate_over_http_keeps_novel_filtered_examples(teacher_server, tmp_path: Path, no_openai_env) -> None:
    out = tmp_path / "run"
    code, output = run_cli("-n", "120", "-o", str(out), *at(teacher_server), "--seed", "5")
    assert code == 0, output
    assert f"Run folder: {out.resolve()}" in output
    kept = read_jsonl(out / "kept.jsonl")
    rejected = read_jsonl(out / "rejected.jsonl")
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())

    assert len(kept) == stats["kept"] == 120 and stats["finished"]
    assert stats["candidates"] == stats["kept"] + sum(stats["rejected"].values()) == len(kept) + len(rejected)
    assert set(stats["rejected"]) <= KNOWN_REASONS and "near_duplicate" in stats["rejected"]
    assert {record["reason"] for record in rejected} == set(stats["rejected"])
    assert all(record["raw"] for record in rejected)
    assert stats["teacher_models"] == {"simulated-teacher": stats["answers"]}
    assert manifest["seed_tasks"]["count"] == 175 and manifest["teacher"]["base_url"] == teacher_server.base_url

    for record in kept:
        assert set(record) >= {"instruction", "input", "output", "max_rouge_l", "most_similar_instructions"}
        assert record["max_rouge_l"] <= 0.7 and len(record["most_similar_instructions"]) == 10
        assert record["max_rouge_l"] == record["most_similar_instructions"][0]["score"]
    # Independently: every kept instruction is novel against the seeds and all earlier kept ones.
    index = RougeIndex()
    for seed in load_seed_tasks(default_seed_path()):
        index.add(seed.instruction)
    for record in kept:
        assert index.add_if_novel(record["instruction"]).max_score == record["max_rouge_l"]
    requests = [(r["request_index"], r["position"]) for r in kept]
    assert requests == sorted(requests) and len(set(requests)) == len(requests)  # used in request order


def test_result_does_not_depend_on_concurrency(teacher_server, tmp_path: Path, no_openai_env) -> None:
    runs = []
    for concurrency in ("1", "8"):
        out = tmp_path / f"c{concurrency}"
        code, output = run_cli("-n", "40", "-o", str(out), *at(teacher_server), "--no-cache",
                               "--concurrency", concurrency)  # fmt: skip
        assert code == 0, output
        runs.append((out / "kept.jsonl").read_bytes())
    assert runs[0] == runs[1]


def test_offline_default_starts_its_own_teacher(tmp_path: Path, no_openai_env) -> None:
    out = tmp_path / "offline"
    code, output = run_cli(
        "-n", "25", "-o", str(out), "--seed-tasks", str(Path(__file__).parent / "data" / "self_instruct_format.jsonl")
    )
    assert code == 0, output
    assert "built-in offline teacher" in output
    assert len(read_jsonl(out / "kept.jsonl")) == 25


def test_wrong_key_fails_fast_without_leaking_it(tmp_path: Path, no_openai_env) -> None:
    from pipeline.simulator.server import SimulatorConfig, SimulatorServer

    secret = "sk-test-very-secret-0123456789"
    with SimulatorServer(SimulatorConfig(api_key="sk-the-right-one")) as server:
        out = tmp_path / "badkey"
        code, output = run_cli("-n", "5", "-o", str(out), *at(server),
                               env={"OPENAI_API_KEY": secret})  # fmt: skip
        assert len(server.requests) == 1  # no retry of a 401
    assert code == 1 and "rejected the API key (401)" in output and "OPENAI_API_KEY" in output
    assert secret not in output
    assert all(secret not in path.read_text() for path in out.iterdir())


def test_unknown_model_says_what_to_change(teacher_server, tmp_path: Path, no_openai_env) -> None:
    code, output = run_cli("-n", "5", "-o", str(tmp_path / "m"), *at(teacher_server),
                           "--model", "no-such-model")  # fmt: skip
    assert code == 1 and "'no-such-model' was not found" in output and "--model" in output


def test_rerunning_a_finished_run_does_nothing_and_says_so(teacher_server, tmp_path: Path, no_openai_env) -> None:
    out = tmp_path / "again"
    assert run_cli("-n", "3", "-o", str(out), *at(teacher_server))[0] == 0
    before = (out / "kept.jsonl").read_bytes()
    requests = len(teacher_server.requests)
    code, output = run_cli("-n", "3", "-o", str(out), *at(teacher_server))
    assert code == 0 and "Nothing to do" in output and "already complete" in output
    assert len(teacher_server.requests) == requests
    assert (out / "kept.jsonl").read_bytes() == before


def test_changed_settings_on_an_existing_run_are_refused(teacher_server, tmp_path: Path, no_openai_env) -> None:
    out = tmp_path / "run"
    assert run_cli("-n", "3", "-o", str(out), *at(teacher_server))[0] == 0
    before = (out / "kept.jsonl").read_bytes()
    code, output = run_cli("-n", "3", "-o", str(out), *at(teacher_server), "--temperature", "0.5")
    assert code == 1 and "other settings (teacher.temperature: 1.0 -> 0.5)" in output and "--output-dir" in output
    assert (out / "kept.jsonl").read_bytes() == before


def test_a_larger_target_extends_a_finished_run(teacher_server, tmp_path: Path, no_openai_env) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    assert run_cli("-n", "20", "-o", str(small), "--no-cache", *at(teacher_server))[0] == 0
    code, output = run_cli("-n", "50", "-o", str(small), "--no-cache", *at(teacher_server))
    assert code == 0 and "Added 30 examples to the 20 the run had." in output and "Nothing to do" not in output
    assert run_cli("-n", "50", "-o", str(large), "--no-cache", *at(teacher_server))[0] == 0
    for name in ("kept.jsonl", "rejected.jsonl"):  # the answer cut short at 20 went on where it stopped
        assert (small / name).read_bytes() == (large / name).read_bytes()
    extended, whole = (json.loads((folder / "stats.json").read_text()) for folder in (small, large))
    assert extended["candidates"] == whole["candidates"] and extended["answers"] == whole["answers"]


def test_the_checkpoint_moves_with_the_run_so_a_rerun_replays_nothing(teacher_server, tmp_path: Path,
                                                                      no_openai_env) -> None:  # fmt: skip
    out = tmp_path / "run"
    assert run_cli("-n", "45", "-o", str(out), "--no-cache", *at(teacher_server))[0] == 0
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert checkpoint["stats"]["kept"] == 45 and checkpoint["next_index"] == stats["answers"] - 1  # cut short
    assert checkpoint["next_position"] > 0
    code, output = run_cli("-n", "45", "-o", str(out), "--no-cache", *at(teacher_server))
    assert code == 0 and "Nothing to do" in output
    rerun = json.loads((out / "stats.json").read_text())
    assert rerun["added"] == rerun["new_requests"] == 0 and rerun["kept"] == 45  # nothing was replayed
    assert rerun["received"] == stats["received"] and rerun["paid_requests"] == stats["paid_requests"]


def test_a_new_folder_with_the_same_settings_pays_nothing_twice(teacher_server, tmp_path: Path,
                                                                no_openai_env) -> None:  # fmt: skip
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"simulated-teacher": {"input": 1.0, "output": 2.0}}))
    common = ["-n", "40", "--cache-path", str(tmp_path / "cache.sqlite"), "--prices", str(prices), *at(teacher_server)]
    assert run_cli("-o", str(tmp_path / "first"), *common)[0] == 0
    requests = len(teacher_server.requests)
    code, output = run_cli("-o", str(tmp_path / "second"), *common)
    assert code == 0 and len(teacher_server.requests) == requests  # every answer came from the cache
    first, second = (json.loads((tmp_path / run / "stats.json").read_text()) for run in ("first", "second"))
    assert first["paid_requests"] == first["received"] > 0 and first["cost_usd"] > 0 and first["cache_hits"] == 0
    assert second["cache_hits"] == second["new_requests"] == second["received"] == first["received"]
    assert second["paid_requests"] == second["paid_completion_tokens"] == 0 and second["cost_usd"] == 0.0
    assert f"{second['cache_hits']} from cache; 0 paid in all, 0 tokens, $0.0000" in output
    assert (tmp_path / "first" / "kept.jsonl").read_bytes() == (tmp_path / "second" / "kept.jsonl").read_bytes()


def test_a_small_run_asks_only_for_what_it_needs(teacher_server, tmp_path: Path, no_openai_env) -> None:
    out = tmp_path / "run"
    assert run_cli("-n", "100", "-o", str(out), "--no-cache", "--concurrency", "16", *at(teacher_server))[0] == 0
    stats = json.loads((out / "stats.json").read_text())
    # The window holds what the keep rate so far says the target needs (plus 10%), not 16 requests to the end.
    assert stats["received"] <= stats["answers"] + 2, stats


def test_a_folder_with_other_files_is_not_used(tmp_path: Path, no_openai_env) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, output = run_cli("-n", "3", "-o", str(tmp_path))
    assert code == 1 and "holds no run" in output


def test_bad_seed_file_is_reported_with_file_and_line(tmp_path: Path, no_openai_env) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"instruction": "Name a fruit please.", "input": "", "output": "Apple"}\n{oops\n')
    code, output = run_cli("-n", "3", "-o", str(tmp_path / "x"), "--seed-tasks", str(seeds))
    assert code == 1 and f"{seeds}:2: invalid JSON" in output
    assert not (tmp_path / "x").exists()


def test_resume_uses_the_checkpoint_and_survives_a_damaged_kept_file(teacher_server, tmp_path: Path,
                                                                      no_openai_env) -> None:  # fmt: skip
    out = tmp_path / "run"
    assert run_cli("-n", "60", "-o", str(out), "--no-cache", *at(teacher_server))[0] == 0
    reference = (out / "kept.jsonl").read_bytes()
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    assert checkpoint["bytes"]["kept.jsonl"] <= len(reference) and checkpoint["stats"]["kept"] <= 60

    (out / "kept.jsonl").write_bytes(reference + b'{"torn": ')  # a crash mid-append after the checkpoint
    assert run_cli("-n", "60", "-o", str(out), "--no-cache", *at(teacher_server))[0] == 0
    assert (out / "kept.jsonl").read_bytes() == reference

    (out / "kept.jsonl").write_bytes(reference[:10])  # shorter than the checkpoint says: replay everything
    requests = len(teacher_server.requests)
    assert run_cli("-n", "60", "-o", str(out), "--no-cache", *at(teacher_server))[0] == 0
    assert (out / "kept.jsonl").read_bytes() == reference and len(teacher_server.requests) == requests


def test_a_torn_journal_line_is_cut_and_the_run_continues(teacher_server, tmp_path: Path, no_openai_env) -> None:
    out = tmp_path / "run"
    assert run_cli("-n", "30", "-o", str(out), "--no-cache", *at(teacher_server))[0] == 0
    journal = out / "responses.jsonl"
    complete = journal.read_bytes()
    journal.write_bytes(complete + b'{"request_index": 999, "text": "half an ans')  # SIGKILL mid-write
    code, output = run_cli("-n", "30", "-o", str(out), "--no-cache", *at(teacher_server))
    assert code == 0 and "Nothing to do" in output
    assert journal.read_bytes() == complete
