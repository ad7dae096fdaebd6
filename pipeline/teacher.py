"""The teacher LLM behind any OpenAI-compatible API; the only module that imports `openai`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import httpx
import openai

from pipeline.errors import TeacherError
from pipeline.prompts import BootstrapPrompt

OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class TeacherConfig:
    """Which model to ask, where, and with which decoding parameters (the key comes from the environment)."""

    model: str = "gpt-4o-mini"  # a cheap chat model; Alpaca used text-davinci-003, which is retired
    base_url: str = OPENAI_BASE_URL
    api: Literal["chat", "completions"] = "chat"
    temperature: float = 1.0  # Alpaca's sampling: diverse tasks need a hot teacher
    top_p: float = 1.0
    max_tokens: int = 3072  # Alpaca's budget: room for ~17 tasks of under 100 words each
    timeout_s: float = 120.0  # one answer of 3K tokens can take a minute on a busy server
    max_retries: int = 3  # the SDK backs off on 429 (honouring Retry-After), 5xx, timeouts, dropped connections

    def __post_init__(self) -> None:
        if self.api not in ("chat", "completions"):
            raise ValueError(f"api must be 'chat' or 'completions', got {self.api!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be within [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be within (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {self.max_tokens}")


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


class Teacher:
    """Asks the teacher for the continuation of a bootstrap prompt, one prompt per request and n=1.

    Many servers (llama.cpp) ignore n>1 and reject a list of prompts, so neither is used.
    """

    def __init__(self, config: TeacherConfig, api_key: str, http_client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            http_client=http_client,
        )

    async def ask(self, prompt: BootstrapPrompt, stop: list[str], seed: int | None = None) -> TeacherResponse:
        """Send one request; errors a retry cannot fix become a TeacherError that says what to change."""
        started = time.perf_counter()
        common = dict(
            model=self.config.model,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            max_tokens=self.config.max_tokens,
            stop=stop,
            n=1,
        )
        if seed is not None:
            common["seed"] = seed
        try:
            if self.config.api == "chat":
                response = await self._client.chat.completions.create(messages=list(prompt.messages), **common)
                choice = response.choices[0]
                text = choice.message.content or ""
            else:
                response = await self._client.completions.create(prompt=prompt.text, **common)
                choice = response.choices[0]
                text = choice.text
        except openai.AuthenticationError:
            raise TeacherError(
                f"the teacher at {self.config.base_url} rejected the API key (401): set OPENAI_API_KEY to a valid key"
            ) from None
        except openai.PermissionDeniedError as error:
            raise TeacherError(
                f"the teacher at {self.config.base_url} refused access (403): {_message(error)}; "
                "check that the key may use this model"
            ) from None
        except openai.NotFoundError:
            raise TeacherError(
                f"model {self.config.model!r} was not found at {self.config.base_url} (404): pass --model with a "
                f"model the server lists at {self.config.base_url.rstrip('/')}/models"
            ) from None
        except openai.BadRequestError as error:
            raise TeacherError(f"the teacher rejected the request (400): {_message(error)}") from None
        except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as error:
            # The SDK has already backed off and retried `max_retries` times.
            raise TeacherError(
                f"the teacher at {self.config.base_url} still failed after {self.config.max_retries} retries "
                f"({type(error).__name__}: {error.message if hasattr(error, 'message') else error})"
            ) from None
        usage = response.usage
        return TeacherResponse(
            text=text,
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=response.model,
            request_id=response.id,
            latency_s=time.perf_counter() - started,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(error.message)
