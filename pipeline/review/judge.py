"""An LLM judge that scores every kept example of a run (AlpaGasus): 0-5 and a one-line rationale, journaled in
`judgements/<outputs>-<rubric>.jsonl` apart from the generation journal."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pipeline.core.errors import RunDirError
from pipeline.core.jsonio import read_jsonl
from pipeline.core.records import Example, TeacherResponse
from pipeline.core.runfiles import JUDGEMENTS_DIR, KEPT, REJECTED
from pipeline.review.job import Plan, Request, ReviewStats
from pipeline.review.parse import parse_judgement
from pipeline.review.prompts import JUDGE_VERSION, RUBRICS, judge_prompt, review_key
from pipeline.review.reanswer import usable_reanswers
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.config import TeacherConfig

Outputs = Literal["original", "reanswered"]
SCORE_BINS = (0.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0)  # the distribution's bins: [0,1), [1,2), ... [4.5,5], as AlpaGasus


def journal_path(run_dir: str | Path, outputs: str, rubric: str) -> Path:
    return Path(run_dir) / JUDGEMENTS_DIR / f"{outputs}-{rubric}.jsonl"


def examples_to_judge(run_dir: Path, outputs: str, include_rejected: bool) -> list[tuple[str, int, Example]]:
    """(source, line, example) of every example to score: the kept ones (their re-answers with `reanswered`),
    then, with `include_rejected`, the rejects that parsed into an example."""
    if not (run_dir / KEPT).is_file():
        raise RunDirError(f"{run_dir}: no {KEPT}; judge a run folder that `alpaca-pipeline generate` wrote")
    kept = read_jsonl(run_dir / KEPT, recover_tail=True)
    found: list[tuple[str, int, Example]] = []
    if outputs == "reanswered":
        answers = usable_reanswers(run_dir)
        for line, record in enumerate(kept):
            answer = answers.get((record["instruction"], record["input"]))
            if answer is not None:
                found.append(("kept", line, Example(record["instruction"], record["input"], answer["output"])))
    else:
        found = [("kept", line, Example(r["instruction"], r["input"], r["output"])) for line, r in enumerate(kept)]
    if include_rejected and (run_dir / REJECTED).is_file():
        for line, record in enumerate(read_jsonl(run_dir / REJECTED, recover_tail=True)):
            if all(isinstance(record.get(name), str) for name in ("instruction", "input", "output")):
                found.append(("rejected", line, Example(record["instruction"], record["input"], record["output"])))
    return found


def judge_plan(run_dir: str | Path, teacher_config: TeacherConfig, rubric: str = "accuracy",
               outputs: Outputs = "original", include_rejected: bool = False) -> Plan:  # fmt: skip
    """The judge requests of every example of `run_dir` (see `examples_to_judge`) for this rubric and model."""
    if rubric not in RUBRICS:
        raise ValueError(f"rubric must be one of {sorted(RUBRICS)}, got {rubric!r}")
    run_dir = Path(run_dir)
    requests = []
    for source, line, example in examples_to_judge(run_dir, outputs, include_rejected):
        key = review_key(JUDGE_VERSION, rubric, teacher_config.model, example.instruction, example.input,
                         example.output)  # fmt: skip
        about = {"source": source, "line": line, "instruction": example.instruction, "input": example.input,
                 "output": example.output}  # fmt: skip
        requests.append(Request(key, judge_prompt(example, rubric), about))

    def record(request: Request, response: TeacherResponse) -> dict[str, Any]:
        judgement = parse_judgement(response.text)
        return {"key": request.key, **request.about, "score": judgement.score, "rationale": judgement.rationale,
                "reason": judgement.reason, "rubric": rubric, "outputs": outputs, "judge_model": teacher_config.model,
                "prompt_version": JUDGE_VERSION, "response": response.to_dict()}  # fmt: skip

    return Plan(f"judge {outputs}/{rubric}", requests, record, journal_path(run_dir, outputs, rubric))


def judge_stats(journal: Path) -> dict[str, Any]:
    return score_summary(latest_judgements(journal).values())


def judge_run(
    run_dir: str | Path,
    teacher_config: TeacherConfig,
    api_key: str,
    rubric: str = "accuracy",
    outputs: Outputs = "original",
    include_rejected: bool = False,
    concurrency: int = 16,
    max_cost: float | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    cache: ResponseCache | None = None,
    progress: bool = True,
    batch: bool = False,
    poll_s: float = 5.0,
) -> ReviewStats:
    """Score every example of `run_dir` not judged yet under this rubric by this model; returns the session's
    counters and writes `judgements/<outputs>-<rubric>.stats.json` with the score distribution of the journal."""
    options = {"concurrency": concurrency, "max_cost": max_cost, "prices": prices, "cache": cache,
               "progress": progress, "poll_s": poll_s}  # fmt: skip
    plan = judge_plan(run_dir, teacher_config, rubric, outputs, include_rejected)
    return plan.run(teacher_config, api_key, judge_stats, batch=batch, **options)


def latest_judgements(journal: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The judgement of each (instruction, input, output) in a journal: the last one written wins (a later judge)."""
    if not journal.is_file():
        return {}
    return {(r["instruction"], r["input"], r["output"]): r for r in read_jsonl(journal, recover_tail=True)}


def score_summary(judgements: Any) -> dict[str, Any]:
    """Counts per score bin, unreadable judgements per reason, and the mean, of judgements of kept examples."""
    kept = [record for record in judgements if record.get("source", "kept") == "kept"]
    scores = [record["score"] for record in kept if record["score"] is not None]
    bins = Counter(_bin(score) for score in scores)
    labels = [f"{low:g}-{high:g}" for low, high in zip(SCORE_BINS, SCORE_BINS[1:], strict=False)]
    return {
        "judged": len(kept),
        "scored": len(scores),
        "mean_score": round(sum(scores) / len(scores), 4) if scores else None,
        "distribution": {label: bins.get(label, 0) for label in labels},
        "unreadable": dict(Counter(record["reason"] for record in kept if record["score"] is None)),
    }


def _bin(score: float) -> str:
    for low, high in zip(SCORE_BINS, SCORE_BINS[1:], strict=False):
        if score < high or high == SCORE_BINS[-1]:
            return f"{low:g}-{high:g}"
    raise AssertionError(score)
