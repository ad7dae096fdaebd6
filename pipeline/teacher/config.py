"""Which teacher to ask and how: the settings, kept apart from the client so they load without `openai`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

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
    timeout_s: float | None = field(
        default=None,  # from max_tokens: a slow local server writes ~20 tokens/s (FIELD-NOTES: 15 on SmolLM2)
        metadata={
            "help": "Seconds to wait for one answer; unset: 30 + max_tokens / 20 (184 s for 3072 tokens). "
            "Connecting is given 5 s at most.",
            "gt": 0,
        },
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
        for name in ("temperature", "top_p", "timeout_s", "backoff_s", "max_backoff_s", "rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if self.max_tokens < 1 or self.max_retries < 0 or (self.timeout_s is not None and self.timeout_s <= 0):
            raise ValueError("max_tokens and timeout_s must be positive and max_retries non-negative")
        check_base_url(self.base_url)

    @property
    def request_timeout_s(self) -> float:
        """Seconds to wait for one answer: the one given, else enough for max_tokens at a slow 20 tokens/s."""
        return self.timeout_s if self.timeout_s is not None else 30.0 + self.max_tokens / 20.0

    def decoding(self) -> dict[str, Any]:
        """The parameters that, with the prompt, determine an answer (part of the cache key)."""
        return {"endpoint": self.api, "model": self.model, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens}  # fmt: skip


def check_base_url(base_url: str) -> None:
    """Raise ValueError unless `base_url` is an http(s) URL with a host: before anything is asked of it."""
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"base_url must be an http(s) URL such as http://localhost:8000/v1, got {base_url!r}")
