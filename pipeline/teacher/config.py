"""Which teacher to ask and how: the settings, kept apart from the client so they load without `openai`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

OPENAI_BASE_URL = "https://api.openai.com/v1"
Api = Literal["chat", "completions"]


@dataclass(frozen=True, slots=True)
class TeacherConfig:
    """Which model to ask, where, and how; the key comes from the environment and is never stored here."""

    model: str = field(
        default="gpt-4o-mini",  # a cheap chat model; Alpaca's text-davinci-003 is retired
        metadata={
            "help": "Teacher model; unset: the one model a --base-url server lists (GET /models), the offline "
            "teacher's `simulated-teacher`, or this default on OpenAI's API."
        },
    )
    base_url: str = field(
        default=OPENAI_BASE_URL, metadata={"help": "OpenAI-compatible API URL, e.g. http://localhost:8000/v1 (vLLM)."}
    )
    api: Api = field(default="chat", metadata={"help": "Endpoint: chat messages, or a plain completion prompt."})
    temperature: float = field(
        default=1.0,  # Alpaca's sampling: diverse tasks need a hot teacher
        metadata={"help": "Sampling temperature of the teacher.", "ge": 0, "le": 2},
    )
    top_p: float = field(
        default=1.0,
        metadata={"help": "Nucleus sampling: the share of probability mass sampled from.", "gt": 0, "le": 1},
    )
    max_tokens: int = field(
        default=3072,  # Alpaca's budget: room for ~17 tasks of under 100 words each
        metadata={"help": "Token budget per answer.", "ge": 1},
    )
    timeout_s: float = field(
        default=120.0,  # one answer of 3K tokens can take a minute on a busy server
        metadata={"help": "Seconds to wait for one answer.", "gt": 0},
    )
    max_retries: int = field(
        default=8,  # with backoff capped at 60 s: several minutes of outage before giving up
        metadata={"help": "Retries of a request that failed for a reason a retry can fix.", "ge": 0},
    )
    backoff_s: float = field(
        default=1.0,  # doubling each time
        metadata={"help": "Most seconds the first retry waits.", "gt": 0},
    )
    max_backoff_s: float = field(default=60.0, metadata={"help": "Most seconds any retry waits.", "gt": 0})
    rpm: float | None = field(
        default=None, metadata={"help": "Client-side budget of requests per minute; unset: no pacing.", "gt": 0}
    )
    tpm: float | None = field(
        default=None, metadata={"help": "Client-side budget of tokens per minute; unset: no pacing.", "gt": 0}
    )

    def __post_init__(self) -> None:
        if self.api not in get_args(Api):
            raise ValueError(f"api must be one of {get_args(Api)}, got {self.api!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be within [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be within (0, 1], got {self.top_p}")
        if self.max_tokens < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError("max_tokens and timeout_s must be positive and max_retries non-negative")

    def decoding(self) -> dict[str, Any]:
        """The parameters that, with the prompt, determine an answer (part of the cache key)."""
        return {"endpoint": self.api, "model": self.model, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens}  # fmt: skip
