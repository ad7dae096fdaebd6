"""The record types every stage passes around: seed tasks, Alpaca examples and teacher answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Example:
    """One Alpaca record; an empty `input` is `""`, exactly as in alpaca_data.json."""

    instruction: str
    input: str
    output: str

    def to_dict(self) -> dict[str, str]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}  # asdict copies deeply


@dataclass(frozen=True, slots=True)
class SeedTask:
    """A human-written task in the self-instruct format; `instances` holds at least one example."""

    id: str
    name: str
    instruction: str
    instances: tuple[Example, ...]
    is_classification: bool

    @property
    def example(self) -> Example:
        """The first instance as an Alpaca example: what a bootstrap prompt shows as a demonstration."""
        return self.instances[0]


@dataclass(frozen=True, slots=True)
class TeacherResponse:
    """One answer, in our terms rather than the SDK's."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str  # as the server reports it, which may differ from the name asked for
    request_id: str | None
    latency_s: float
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], cached: bool) -> TeacherResponse:
        return cls(**{**data, "cached": cached})
