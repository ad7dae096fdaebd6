"""The engine driven in fetched rounds (as the flows do) gives the very same run as the CLI's sliding window:
the same kept and rejected files, the same counters, and a resume that pays for nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.generation.config import GenerateConfig
from pipeline.generation.engine import Engine
from pipeline.generation.fetch import fetch_batch
from pipeline.generation.generate import generate
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.teacher.client import TeacherConfig

SEEDS = load_seed_tasks(default_seed_path())
CONFIG = GenerateConfig(num_instructions=120, max_concurrency=4)
SAME_WHOEVER_FETCHED = ("kept", "candidates", "answers", "prompt_tokens", "completion_tokens", "rejected", "stopped")


def rounds(teacher: TeacherConfig, run_dir: Path, batch: int, stop_after: int | None = None) -> Engine:
    engine = Engine(CONFIG, teacher, default_seed_path(), SEEDS, run_dir)
    done = 0
    try:
        while not engine.advance().stopped:
            indices = engine.wanted(limit=3 * batch)
            for start in range(0, len(indices), batch):  # what parallel batch tasks would do
                counts = fetch_batch(CONFIG, teacher, "k", SEEDS, run_dir, indices[start : start + batch])
                engine.add_retries(counts["retries"])
            done += 1
            if stop_after is not None and done == stop_after:
                break
    finally:
        engine.close()
    return engine


def test_rounds_equal_the_sliding_window_and_resume(teacher_server, tmp_path: Path) -> None:
    teacher = TeacherConfig(model="simulated-teacher", base_url=teacher_server.base_url)
    since = len(teacher_server.requests)
    generate(CONFIG, teacher, "k", default_seed_path(), SEEDS, tmp_path / "window", progress=False)
    window_requests = len(teacher_server.requests) - since
    finished = rounds(teacher, tmp_path / "rounds", batch=2)
    assert finished.stats.finished
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (tmp_path / "rounds" / name).read_bytes() == (tmp_path / "window" / name).read_bytes()
    window = json.loads((tmp_path / "window" / "stats.json").read_text())
    stats = json.loads((tmp_path / "rounds" / "stats.json").read_text())
    assert {name: stats[name] for name in SAME_WHOEVER_FETCHED} == {
        name: window[name] for name in SAME_WHOEVER_FETCHED
    }
    # Counters are the real ones whoever fetched: every answer journaled is counted, used or not.
    for run, counts in (("window", window), ("rounds", stats)):
        journaled = (tmp_path / run / "responses.jsonl").read_text().splitlines()
        assert counts["received"] == counts["new_requests"] == counts["paid_requests"] == len(journaled) > 0
        assert counts["paid_completion_tokens"] == sum(json.loads(line)["completion_tokens"] for line in journaled)
        assert counts["paid_completion_tokens"] >= counts["completion_tokens"] > 0
        assert counts["added"] == counts["kept"] == 120 and counts["elapsed_s"] > 0
    assert not (tmp_path / "rounds" / "responses").exists()  # the parts were folded into responses.jsonl
    assert window["new_requests"] == window_requests

    since = len(teacher_server.requests)
    rounds(teacher, tmp_path / "interrupted", batch=3, stop_after=1)  # stopped like a killed flow run
    first_session = len(teacher_server.requests) - since
    assert first_session > 0
    resumed = rounds(teacher, tmp_path / "interrupted", batch=3)  # a new flow run on the same folder
    assert (tmp_path / "interrupted" / "kept.jsonl").read_bytes() == (tmp_path / "window" / "kept.jsonl").read_bytes()
    sent = [request.body_sha256 for request in teacher_server.requests[since:]]
    assert len(sent) == len(set(sent))  # no request of the first session was sent again
    assert resumed.stats.received == len(sent) and resumed.stats.new_requests == len(sent) - first_session
