"""The LLM judge and re-answering over real HTTP against the offline teacher: parsing real-looking judgements, a
judge run killed with SIGKILL and resumed without paying twice, grown runs judged incrementally, budgets, and the
dataset built from scores and re-answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.review.parse import parse_judgement
from pipeline.simulator.review import OFF_TOPIC_OUTPUTS
from pipeline.simulator.server import SimulatorConfig, SimulatorServer

# What judge models write, and what must be read from it: (answer, score or None, rationale or reason).
JUDGEMENTS = [
    ("Score: 4.5\nRationale: Correct and complete.", 4.5, "Correct and complete."),
    ("**Score:** 2\n**Rationale:** The sum is wrong.", 2.0, "The sum is wrong."),
    ("Score: 5/5\nExplanation: Accurate.", 5.0, "Accurate."),
    ("Rating: 4 out of 5. Good, but it misses the second item.", 4.0, "Good, but it misses the second item"),
    ("4/5 - mostly right", 4.0, "mostly right"),
    ("I'd give this 8/10 because it is accurate but terse.", 4.0, "I'd give this because it is accurate but terse"),
    ('{"score": 3, "rationale": "Partly correct."}', 3.0, "Partly correct."),
    ('```json\n{"Score": 1.5, "Explanation": "Off topic."}\n```', 1.5, "Off topic."),
    ("5\nThe response is exactly right.", 5.0, "The response is exactly right"),
    ("The answer lists 3 steps. Score: 4", 4.0, "The answer lists 3 steps"),
    ("Score: 0\nRationale: The response is empty.", 0.0, "The response is empty."),
    ("The response seems reasonable overall.", None, "no score found"),
    ("", None, "empty answer"),
    ("Score: 4\nOn reflection, Score: 2", None, "several different scores (4, 2)"),
    ("Score: 7\nRationale: Great.", None, "score 7 is outside 0-5"),
    ("Score: 85/100\nRationale: Solid.", 4.25, "Solid."),
]


@pytest.mark.parametrize(("answer", "score", "why"), JUDGEMENTS)
def test_judgements_are_read_or_refused_with_a_reason(answer: str, score: float | None, why: str) -> None:
    judgement = parse_judgement(answer)
    assert judgement.score == score
    assert (judgement.rationale if score is not None else judgement.reason) == why


@pytest.fixture(scope="module")
def server():
    """An offline teacher that answers some tasks off topic (a defect only a judge can catch), and a judge model."""
    config = SimulatorConfig(models=("simulated-teacher", "simulated-judge"), off_topic_share=0.15)
    with SimulatorServer(config) as running:
        yield running


def generate(server: SimulatorServer, run_dir: Path, examples: int) -> None:
    args = ["generate", "-n", str(examples), "-o", str(run_dir), "--base-url", server.base_url, "--model",
            "simulated-teacher", "--no-cache", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def review(server: SimulatorServer, command: str, run_dir: Path, *extra: str) -> str:
    args = [command, str(run_dir), "--base-url", server.base_url, "--model", "simulated-judge", "--no-cache",
            "--no-progress", *extra]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def judged_run(server: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("review") / "run"
    generate(server, run_dir, 80)
    review(server, "judge", run_dir)
    return run_dir


def test_every_kept_example_is_judged_once_and_off_topic_outputs_score_low(judged_run: Path) -> None:
    kept = read_jsonl(judged_run / "kept.jsonl")
    judgements = read_jsonl(judged_run / "judgements" / "original-accuracy.jsonl")
    assert sorted(j["line"] for j in judgements) == list(range(len(kept)))
    off_topic = [j for j in judgements if j["output"] in OFF_TOPIC_OUTPUTS]
    assert off_topic and {j["score"] for j in off_topic} <= {1.0, None}, off_topic  # None: a judgement not readable
    assert all(j["judge_model"] == "simulated-judge" and j["prompt_version"] == "judge-v1" for j in judgements)
    stats = json.loads((judged_run / "judgements" / "original-accuracy.stats.json").read_text())
    assert stats["judged"] == len(kept) and sum(stats["distribution"].values()) == stats["scored"]


def test_min_score_keeps_only_examples_scored_at_least_that(judged_run: Path) -> None:
    from pipeline.dataset.build import build_dataset, load

    everything = build_dataset(judged_run, validation_size=0)
    all_rows = load(judged_run)["train"]
    assert everything.splits["train"] == len(read_jsonl(judged_run / "kept.jsonl"))
    summary = build_dataset(judged_run, validation_size=0, min_score=4.0)
    rows = load(judged_run)["train"]
    scores = [row["score"] for row in rows]
    assert len(rows) < len(all_rows) and all(score is not None and score >= 4.0 for score in scores)
    assert not {row["output"] for row in rows} & set(OFF_TOPIC_OUTPUTS)
    assert all(row["judge_model"] == "simulated-judge" and row["judge_rationale"] for row in rows)
    selection = summary.selection
    assert selection.below + selection.dropped_unreadable == len(all_rows) - len(rows)
    card = (judged_run / "dataset" / "README.md").read_text()
    assert "## Review" in card and f"Threshold 4: {selection.below} scored below it" in card
    assert (judged_run / "dataset" / "report" / "scores.png").is_file()
    assert (judged_run / "dataset" / "report" / "score_length.png").is_file()


def test_a_grown_run_judges_only_its_new_examples(server: SimulatorServer, tmp_path: Path) -> None:
    run_dir = tmp_path / "grown"
    generate(server, run_dir, 30)
    review(server, "judge", run_dir)
    generate(server, run_dir, 60)
    before = len(server.requests)
    output = review(server, "judge", run_dir)
    assert "30 answered this session" in output and "30 already journaled, of 60" in output
    assert len(server.requests) - before == 30
    assert len(read_jsonl(run_dir / "judgements" / "original-accuracy.jsonl")) == 60
    with pytest.raises(Exception, match="no accuracy judgement"):  # a new example not judged: said, not guessed
        from pipeline.dataset.build import build_dataset

        generate(server, run_dir, 70)
        build_dataset(run_dir, min_score=4.0)
    CliRunner().invoke(
        main, ["dataset", str(run_dir), "--min-score", "4", "--unjudged", "drop"], catch_exceptions=False
    )


def test_reanswered_outputs_replace_the_originals_in_the_dataset(judged_run: Path, server: SimulatorServer) -> None:
    from pipeline.dataset.build import build_dataset, load

    review(server, "reanswer", judged_run)
    answers = read_jsonl(judged_run / "reanswered.jsonl")
    kept = read_jsonl(judged_run / "kept.jsonl")
    assert len(answers) == len(kept) and all(a["original_output"] == k["output"] for a, k in zip(
        sorted(answers, key=lambda a: a["line"]), kept, strict=True))  # fmt: skip
    build_dataset(judged_run, validation_size=0, outputs="reanswered")
    rows = load(judged_run)["train"]
    assert [row["output"] for row in rows] == [a["output"] for a in sorted(answers, key=lambda a: a["line"])]
    assert all(row["output"].startswith("Answering ") and row["output_model"] == "simulated-judge" for row in rows)
    review(server, "judge", judged_run, "--outputs", "reanswered")
    build_dataset(judged_run, validation_size=0, outputs="reanswered", min_score=4.5)
    assert all(row["score"] >= 4.5 for row in load(judged_run)["train"])


def test_max_cost_needs_a_price_and_stops_before_crossing_it(judged_run: Path, server: SimulatorServer,
                                                              tmp_path: Path) -> None:  # fmt: skip
    args = ["judge", str(judged_run), "--rubric", "helpfulness", "--base-url", server.base_url, "--model",
            "simulated-judge", "--no-cache", "--no-progress", "--max-cost", "0.01"]  # fmt: skip
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0 and "--max-cost needs the price of 'simulated-judge'" in refused.output
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"simulated-judge": {"input": 10.0, "output": 10.0}}), encoding="utf-8")
    result = CliRunner().invoke(main, [*args, "--prices", str(prices), "--concurrency", "4"])
    assert result.exit_code == 0, result.output
    assert "Stopped before a request that could cross --max-cost" in result.output
    journal = read_jsonl(judged_run / "judgements" / "original-helpfulness.jsonl")
    spent = sum((j["response"]["prompt_tokens"] + j["response"]["completion_tokens"]) * 10 / 1e6 for j in journal)
    assert 0 < len(journal) < len(read_jsonl(judged_run / "kept.jsonl")) and spent <= 0.01


def test_a_killed_judge_resumes_without_paying_twice(tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    with SimulatorServer(SimulatorConfig(latency_s=0.05)) as server:
        generate(server, run_dir, 60)
        journal = run_dir / "judgements" / "original-accuracy.jsonl"
        command = [
            sys.executable,
            "-m",
            "flows.cli",
            "judge",
            str(run_dir),
            "--base-url",
            server.base_url,
            "--no-cache",
            "--no-progress",
            "--concurrency",
            "2",
        ]  # fmt: skip; the served model is found
        log = (tmp_path / "judge.log").open("w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
        deadline = time.monotonic() + 120
        try:
            while not journal.exists() or len(journal.read_text().splitlines()) < 10:
                assert process.poll() is None, (tmp_path / "judge.log").read_text()  # ended before the kill
                assert time.monotonic() < deadline, "no judgement journaled in 120 s"
                time.sleep(0.01)
        finally:
            process.kill()
        assert process.wait() == -signal.SIGKILL
        journaled = {j["key"] for j in read_jsonl(journal, recover_tail=True)}
        killed_at = time.time()  # a request of the killed run still in the server's hands arrived before this
        CliRunner().invoke(main, command[3:], catch_exceptions=False)
        judgements = read_jsonl(journal)
        kept = read_jsonl(run_dir / "kept.jsonl")
        assert len({j["key"] for j in judgements}) == len(judgements) == len(kept)  # each once
        asked = [r for r in server.requests if r.timestamp > killed_at and r.endpoint != "/v1/models"]
        assert len(asked) == len(kept) - len(journaled)  # only what the journal lacked
