"""What one generation run makes: the settings that, with the seed file and the teacher, fix its result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pipeline.generation.filters import FilterConfig

DEFAULT_THRESHOLD = 0.7  # Alpaca/self-instruct: keep only if ROUGE-L F <= 0.7 against every kept instruction
Tokenizer = Literal["rouge", "unicode"]


@dataclass(frozen=True, slots=True)
class GenerateConfig:
    """What one generation run makes; with the seed file and the teacher's decoding it fixes the result."""

    num_instructions: int = field(
        default=52_000,  # Alpaca's size
        metadata={"help": "Stop when this many new examples are kept.", "ge": 1},
    )
    run_seed: int = field(
        default=0,  # request i's demonstrations depend only on (run_seed, i)
        metadata={"help": "Run seed: fixes each request's prompt; part of the run's identity."},
    )
    num_demonstrations: int = field(
        default=3,  # Alpaca shows 3 seed tasks per prompt
        metadata={"help": "Seed tasks shown per prompt.", "ge": 1},
    )
    tasks_per_request: int = field(
        default=20, metadata={"help": "List length each prompt asks for, demonstrations included.", "ge": 2}
    )
    rouge_threshold: float = field(
        default=DEFAULT_THRESHOLD,
        metadata={"help": "Drop an instruction whose ROUGE-L F to any kept one exceeds this.", "gt": 0, "le": 1},
    )
    tokenizer: Tokenizer = field(
        default="rouge",  # rouge_score's, for the exact Alpaca rule; "unicode" for non-English data
        metadata={
            "help": "ROUGE-L tokenizer: rouge_score's (exact Alpaca rule; non-Latin text scores 0), or unicode "
            "(any script)."
        },
    )
    top_k_similar: int = field(
        default=10,  # as Alpaca's regen.json does
        metadata={"help": "Most similar instructions recorded with each kept example.", "ge": 0},
    )
    max_concurrency: int = field(
        default=16,  # the rpm/tpm budgets are the real bound on a paid API
        metadata={"help": "Requests in flight.", "ge": 1},
    )
    max_requests: int | None = field(
        default=None, metadata={"help": "Hard cap on request numbers; unset: until the target is kept.", "ge": 1}
    )
    max_cost_usd: float | None = field(
        default=None,
        metadata={
            "help": "Stop (resumably) once this many US dollars are spent on the run; unset: no budget.",
            "ge": 0,
        },
    )
    stall_requests: int = field(
        default=50,  # so many empty answers in a row: the teacher is not usable
        metadata={"help": "Give up when this many answers in a row keep nothing.", "ge": 1},
    )
    filters: FilterConfig = field(
        default_factory=FilterConfig, metadata={"help": "Bounds and blocklist of the quality rules."}
    )

    def __post_init__(self) -> None:
        if self.num_instructions < 1:
            raise ValueError(f"num_instructions must be at least 1, got {self.num_instructions}")
        if self.tasks_per_request <= self.num_demonstrations:
            raise ValueError("tasks_per_request must exceed num_demonstrations, or the teacher has nothing to write")
        if not 0.0 < self.rouge_threshold <= 1.0:
            raise ValueError(f"rouge_threshold must be within (0, 1], got {self.rouge_threshold}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.max_cost_usd is not None and not 0.0 <= self.max_cost_usd < math.inf:  # NaN fails too
            raise ValueError(f"max_cost_usd must be a finite number of dollars >= 0, got {self.max_cost_usd}")
