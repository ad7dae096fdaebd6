"""How a run folder becomes a dataset: which outputs and judge scores, the split and the card's license."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outputs = Literal["original", "reanswered"]
Unjudged = Literal["error", "keep", "drop"]
Rubric = Literal["accuracy", "helpfulness", "relevance"]


@dataclass(frozen=True, slots=True)
class DatasetConfig:
    """The choices `build_dataset` makes; everything else about the dataset comes from the run folder."""

    validation_size: float = field(
        default=0.02,  # Alpaca shipped no split; 2% of 52K is ~1K examples, enough for a steady eval loss
        metadata={
            "help": "Fraction of the examples held out for validation (rounded up); 0 makes a train split only.",
            "ge": 0,
            "lt": 1,
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the train/validation split."})
    license: str = field(
        default="unknown",  # the teacher's terms of use may restrict its outputs: we cannot know; see docs
        metadata={
            "help": "License id for the dataset card, e.g. cc-by-nc-4.0 (Alpaca's). Check the teacher's terms of "
            "use first."
        },
    )

    min_score: float | None = field(
        default=None,  # AlpaGasus kept the examples an LLM judge scored at least 4.5 of 5
        metadata={"help": "Keep only examples the judge scored at least this (0-5; `alpaca-pipeline judge` first); "
                  "unset: keep all.", "ge": 0, "le": 5},
    )  # fmt: skip
    unjudged: Unjudged = field(
        default="error",
        metadata={"help": "With --min-score, examples the judge has not scored: error (stop and say so), keep, drop."},
    )
    outputs: Outputs = field(
        default="original",
        metadata={"help": "The generated outputs, or those of `alpaca-pipeline reanswer` (examples without one are "
                  "dropped and counted)."},
    )  # fmt: skip
    rubric: Rubric = field(default="accuracy", metadata={"help": "Whose judge scores to use: the rubric judged."})

    def __post_init__(self) -> None:
        if not 0 <= self.validation_size < 1:
            raise ValueError(f"validation_size must be in [0, 1), got {self.validation_size}")
