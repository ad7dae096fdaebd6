"""How a run folder becomes a dataset: the split and the card's license."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def __post_init__(self) -> None:
        if not 0 <= self.validation_size < 1:
            raise ValueError(f"validation_size must be in [0, 1), got {self.validation_size}")
