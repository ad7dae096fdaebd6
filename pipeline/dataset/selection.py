"""Which examples and which outputs the dataset publishes once a run has been reviewed: the judge's scores (keep
those at or above `min_score`, AlpaGasus-style) and re-answered outputs (Alpaca-GPT4-style), each counted for the
card, so no example leaves the dataset without a number that says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputDataError
from pipeline.review.judge import journal_path, latest_judgements
from pipeline.review.reanswer import usable_reanswers


@dataclass(frozen=True, slots=True)
class Selection:
    """What the review did to the dataset (all zeros and None when the run was never reviewed)."""

    outputs: str = "original"
    rubric: str = "accuracy"
    min_score: float | None = None
    unjudged_policy: str = "error"
    candidates: int = 0  # kept examples of the run (with a usable output)
    judged: int = 0  # of them, with a judgement of this rubric
    unreadable: int = 0  # judged, but the judge's answer held no readable score
    unjudged: int = 0
    below: int = 0  # dropped: scored under min_score
    dropped_unreadable: int = 0
    dropped_unjudged: int = 0
    no_reanswer: int = 0  # dropped: no usable re-answer (outputs = reanswered)
    judge_models: tuple[str, ...] = ()
    output_models: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()  # every readable score, kept or dropped, in run order
    score_lengths: tuple[tuple[float, int], ...] = field(default=())  # (score, output words) of each scored example

    @property
    def reviewed(self) -> bool:
        return self.judged > 0 or self.min_score is not None or self.outputs == "reanswered"

    @property
    def dropped(self) -> int:
        return self.below + self.dropped_unreadable + self.dropped_unjudged + self.no_reanswer


def select(
    run_dir: str | Path,
    kept: Sequence[Mapping[str, Any]],
    outputs: str = "original",
    rubric: str = "accuracy",
    min_score: float | None = None,
    unjudged: str = "error",
) -> tuple[list[dict[str, Any]], Selection]:
    """The kept records to publish, each with `score`, `judge_rationale`, `judge_model` and `output_model`.

    Raises:
        InputDataError: `min_score` with examples the judge has not scored and `unjudged="error"`.
    """
    records: list[dict[str, Any]] = []
    no_reanswer = 0
    answers = usable_reanswers(run_dir) if outputs == "reanswered" else {}
    for record in kept:
        row = dict(record)
        row["output_model"] = record["teacher_model"]
        if outputs == "reanswered":
            answer = answers.get((record["instruction"], record["input"]))
            if answer is None:
                no_reanswer += 1
                continue
            row["output"], row["output_model"] = answer["output"], answer["output_model"]
        records.append(row)
    judgements = latest_judgements(journal_path(run_dir, outputs, rubric))
    unscored = [row for row in records if (row["instruction"], row["input"], row["output"]) not in judgements]
    if min_score is not None and unscored and unjudged == "error":
        raise InputDataError(
            f"{len(unscored):,} of {len(records):,} examples have no {rubric} judgement of their {outputs} outputs "
            f"(the first: {unscored[0]['instruction']!r}): run `alpaca-pipeline judge {run_dir}"
            f"{' --outputs reanswered' if outputs == 'reanswered' else ''}` first, or pass --unjudged keep or drop"
        )
    published, scores, score_lengths = [], [], []
    below = dropped_unreadable = dropped_unjudged = unreadable = 0
    for row in records:
        judgement = judgements.get((row["instruction"], row["input"], row["output"]))
        row["score"] = judgement["score"] if judgement else None
        row["judge_rationale"] = judgement["rationale"] if judgement else None
        row["judge_model"] = judgement["judge_model"] if judgement else None
        if judgement is not None and judgement["score"] is None:
            unreadable += 1
        if row["score"] is not None:
            scores.append(row["score"])
            score_lengths.append((row["score"], len(row["output"].split())))
        if min_score is not None:
            if judgement is None:
                if unjudged == "drop":
                    dropped_unjudged += 1
                    continue
            elif row["score"] is None:
                dropped_unreadable += 1
                continue
            elif row["score"] < min_score:
                below += 1
                continue
        published.append(row)
    selection = Selection(
        outputs=outputs, rubric=rubric, min_score=min_score, unjudged_policy=unjudged, candidates=len(records),
        judged=len(records) - len(unscored), unreadable=unreadable, unjudged=len(unscored), below=below,
        dropped_unreadable=dropped_unreadable, dropped_unjudged=dropped_unjudged, no_reanswer=no_reanswer,
        judge_models=tuple(sorted({r["judge_model"] for r in records if r.get("judge_model")})),
        output_models=tuple(sorted({row["output_model"] for row in published})),
        scores=tuple(scores), score_lengths=tuple(score_lengths),
    )  # fmt: skip
    return published, selection
