"""Generation in fetched rounds gives the very same result as the streaming loop, and resumes the same way."""

from __future__ import annotations

from pathlib import Path

from pipeline.generation.batches import Generation, fetch_answers
from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.teacher.client import TeacherConfig

SEEDS = load_seed_tasks(default_seed_path())
CONFIG = GenerateConfig(num_instructions=120, max_concurrency=4)


def rounds(teacher: TeacherConfig, run_dir: Path, batch: int, stop_after: int | None = None) -> Generation:
    generation = Generation(CONFIG, teacher, default_seed_path(), SEEDS, run_dir)
    done = 0
    while not generation.advance().stopped:
        indices = generation.missing(limit=3 * batch)
        assert indices
        for start in range(0, len(indices), batch):  # what parallel batch tasks would do
            fetch_answers(CONFIG, teacher, "k", SEEDS, run_dir, indices[start : start + batch])
        done += 1
        if stop_after is not None and done == stop_after:
            break
    generation.close()
    return generation


def test_rounds_equal_the_streaming_loop_and_resume(teacher_server, tmp_path: Path) -> None:
    teacher = TeacherConfig(model="simulated-teacher", base_url=teacher_server.base_url)
    generate(CONFIG, teacher, "k", default_seed_path(), SEEDS, tmp_path / "stream", progress=False)
    finished = rounds(teacher, tmp_path / "rounds", batch=2)
    assert finished.stats.finished
    assert (tmp_path / "rounds" / "kept.jsonl").read_bytes() == (tmp_path / "stream" / "kept.jsonl").read_bytes()

    since = len(teacher_server.requests)
    rounds(teacher, tmp_path / "interrupted", batch=3, stop_after=1)
    assert len(teacher_server.requests) > since
    rounds(teacher, tmp_path / "interrupted", batch=3)  # a new flow run on the same folder
    assert (tmp_path / "interrupted" / "kept.jsonl").read_bytes() == (tmp_path / "stream" / "kept.jsonl").read_bytes()
    sent = [request.body_sha256 for request in teacher_server.requests[since:]]
    assert len(sent) == len(set(sent))  # no request of the first session was sent again
