"""The record types every stage passes around: seed tasks and Alpaca examples."""

from __future__ import annotations

from dataclasses import dataclass


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
