"""New outputs for the kept instructions from another teacher (Alpaca-GPT4), journaled in `reanswered.jsonl`; the
original outputs stay in kept.jsonl, and `dataset --outputs reanswered` picks the new ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.errors import RunDirError
from pipeline.core.jsonio import read_jsonl
from pipeline.core.records import TeacherResponse
from pipeline.core.runfiles import KEPT, REANSWERED
from pipeline.review.job import Plan, Request, ReviewStats
from pipeline.review.prompts import REANSWER_VERSION, reanswer_prompt, review_key
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.config import TeacherConfig


def reanswer_plan(run_dir: str | Path, teacher_config: TeacherConfig) -> Plan:
    """The re-answer requests of every kept instruction of `run_dir`, for this model."""
    run_dir = Path(run_dir)
    if not (run_dir / KEPT).is_file():
        raise RunDirError(f"{run_dir}: no {KEPT}; re-answer a run folder that `alpaca-pipeline generate` wrote")
    requests = []
    for line, example in enumerate(read_jsonl(run_dir / KEPT, recover_tail=True)):
        key = review_key(REANSWER_VERSION, teacher_config.model, example["instruction"], example["input"])
        about = {"line": line, "instruction": example["instruction"], "input": example["input"],
                 "original_output": example["output"]}  # fmt: skip
        requests.append(Request(key, reanswer_prompt(example["instruction"], example["input"]), about))

    def record(request: Request, response: TeacherResponse) -> dict[str, Any]:
        output = response.text.strip()
        usable = bool(output) and response.finish_reason != "length"
        return {"key": request.key, **request.about, "output": output, "usable": usable,
                "problem": None if usable else ("cut short at max_tokens" if output else "empty answer"),
                "output_model": teacher_config.model, "prompt_version": REANSWER_VERSION,
                "response": response.to_dict()}  # fmt: skip

    return Plan("reanswer", requests, record, run_dir / REANSWERED)


def reanswer_stats(journal: Path) -> dict[str, Any]:
    answers = read_jsonl(journal, recover_tail=True) if journal.is_file() else []
    return {"usable": sum(record["usable"] for record in answers), "journaled": len(answers)}


def reanswer_run(
    run_dir: str | Path,
    teacher_config: TeacherConfig,
    api_key: str,
    concurrency: int = 16,
    max_cost: float | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    cache: ResponseCache | None = None,
    progress: bool = True,
    batch: bool = False,
    poll_s: float = 5.0,
) -> ReviewStats:
    """Ask `teacher_config.model` for a new output to every kept instruction not re-answered by it yet."""
    options = {"concurrency": concurrency, "max_cost": max_cost, "prices": prices, "cache": cache,
               "progress": progress, "poll_s": poll_s}  # fmt: skip
    return reanswer_plan(run_dir, teacher_config).run(teacher_config, api_key, reanswer_stats, batch=batch, **options)


def usable_reanswers(run_dir: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The usable re-answer of each (instruction, input): the last one written wins (a later teacher)."""
    journal = Path(run_dir) / REANSWERED
    if not journal.is_file():
        return {}
    return {(r["instruction"], r["input"]): r for r in read_jsonl(journal, recover_tail=True) if r["usable"]}
