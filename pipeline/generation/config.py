"""What one generation run makes: the settings that, with the seed file and the teacher, fix its result."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.generation.dedup import DEFAULT_THRESHOLD, Tokenizer
from pipeline.generation.filters import FilterConfig


@dataclass(frozen=True, slots=True)
class GenerateConfig:
    """What one generation run makes; with the seed file and the teacher's decoding it fixes the result."""

    num_instructions: int = 52_000  # Alpaca's size
    run_seed: int = 0  # request i's demonstrations depend only on (run_seed, i)
    num_demonstrations: int = 3  # Alpaca shows 3 seed tasks per prompt
    tasks_per_request: int = 20  # the list length a prompt asks for, demonstrations included
    rouge_threshold: float = DEFAULT_THRESHOLD
    tokenizer: Tokenizer = "rouge"  # rouge_score's, for the exact Alpaca rule; "unicode" for non-English data
    top_k_similar: int = 10  # neighbours recorded with each kept example, as Alpaca's regen.json does
    max_concurrency: int = 16  # requests in flight; the rpm/tpm budgets are the real bound on a paid API
    max_requests: int | None = None  # a hard cap on request indices; None: until num_instructions are kept
    max_cost_usd: float | None = None  # stop cleanly (resumable) once this much is spent; None: no budget
    stall_requests: int = 50  # give up when this many answers in a row keep nothing: the teacher is not usable
    filters: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        if self.num_instructions < 1:
            raise ValueError(f"num_instructions must be at least 1, got {self.num_instructions}")
        if self.tasks_per_request <= self.num_demonstrations:
            raise ValueError("tasks_per_request must exceed num_demonstrations, or the teacher has nothing to write")
        if not 0.0 < self.rouge_threshold <= 1.0:
            raise ValueError(f"rouge_threshold must be within (0, 1], got {self.rouge_threshold}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
