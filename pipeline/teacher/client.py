"""The teacher LLM behind any OpenAI-compatible API; the only module that imports `openai`.

Retries are owned here and nowhere else (the SDK's own are off): 429, 5xx, timeouts and dropped
connections back off exponentially with full jitter, honouring Retry-After; errors no retry can fix
(bad key, unknown model, bad parameter) fail at once with a message that says what to change.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from typing import Any, Protocol

import httpx
import openai

from pipeline.core.errors import TeacherError
from pipeline.core.records import TeacherResponse
from pipeline.teacher.cache import ResponseCache, request_key
from pipeline.teacher.config import TeacherConfig
from pipeline.teacher.ratelimit import RateLimiter

log = logging.getLogger(__name__)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Prompt(Protocol):
    """What the teacher sends: the same request as one completion prompt and as chat messages."""

    @property
    def text(self) -> str: ...

    @property
    def messages(self) -> tuple[dict[str, str], ...]: ...


def parse_duration(value: str | None) -> float | None:
    """Seconds in a Retry-After or x-ratelimit-reset-* value: "7", "1.5", "20ms", "6m0s".

    >>> parse_duration("6m0.5s"), parse_duration("20ms"), parse_duration("3")
    (360.5, 0.02, 3.0)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        return sum(float(number) * _SECONDS[unit] for number, unit in parts) if parts else None


class Teacher:
    """Asks for the continuation of a bootstrap prompt: one prompt per request, n=1.

    Many servers (llama.cpp) ignore n>1 and reject a list of prompts, so neither is used.
    """

    def __init__(
        self,
        config: TeacherConfig,
        api_key: str,
        cache: ResponseCache | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.limiter = RateLimiter(config.rpm, config.tpm)
        self.in_flight = 0
        self.retries = 0
        self._jitter = random.Random()  # timing only; never affects which data is made
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=config.base_url, timeout=config.timeout_s, max_retries=0, http_client=http_client
        )

    def request_body(self, prompt: Prompt, stop: list[str], seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {**self.config.decoding(), "stop": stop or None, "n": 1, "seed": seed}
        if self.config.api == "chat":
            body["messages"] = list(prompt.messages)
        else:
            body["prompt"] = prompt.text
        return body

    async def ask(self, prompt: Prompt, stop: list[str], seed: int | None = None, sample: int = 0) -> TeacherResponse:
        """The answer to one request, from the cache when it was paid for before."""
        body = self.request_body(prompt, stop, seed)
        key = request_key(body, sample)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return TeacherResponse.from_dict(hit, cached=True)
        self.in_flight += 1
        try:
            response = await self._send(body)
        finally:
            self.in_flight -= 1
        if self.cache is not None:
            self.cache.put(key, {**response.to_dict(), "cached": False})
        return response

    async def _send(self, body: dict[str, Any]) -> TeacherResponse:
        config = self.config
        max_tokens = config.max_tokens
        estimate = len(body.get("prompt") or str(body.get("messages"))) // 4 + max_tokens
        for attempt in range(config.max_retries + 1):
            await self.limiter.acquire(estimate)
            started = time.perf_counter()
            try:
                response = await self._call({**body, "max_tokens": max_tokens})
                self.limiter.settle(estimate, response.prompt_tokens + response.completion_tokens)
                return response
            except openai.BadRequestError as error:
                if error.code == "context_length_exceeded" and max_tokens > 256:
                    max_tokens //= 2  # the prompt plus max_tokens overflow the context: ask for less
                    wait = 0.0
                    log.warning("context length exceeded; retrying with max_tokens=%d", max_tokens)
                else:
                    raise TeacherError(f"the teacher rejected the request (400): {_message(error)}") from None
            except openai.AuthenticationError:
                raise TeacherError(
                    f"the teacher at {config.base_url} rejected the API key (401): set OPENAI_API_KEY to a valid key"
                ) from None
            except openai.PermissionDeniedError as error:
                raise TeacherError(
                    f"the teacher at {config.base_url} refused access (403): {_message(error)}; "
                    "check that the key may use this model"
                ) from None
            except openai.NotFoundError:
                raise TeacherError(
                    f"model {config.model!r} was not found at {config.base_url} (404): pass --model with a model "
                    f"the server lists at {config.base_url.rstrip('/')}/models"
                ) from None
            except openai.RateLimitError as error:
                retry_after = parse_duration(error.response.headers.get("retry-after"))
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                self.limiter.pause(wait)
                self._log_retry(attempt, f"429 rate limited after {time.perf_counter() - started:.1f}s", wait)
            except (openai.APIConnectionError, openai.InternalServerError) as error:  # timeouts, drops, 5xx
                wait = self._backoff(attempt)
                self._log_retry(attempt, _describe(error), wait)
            except openai.APIStatusError as error:
                if error.status_code not in (408, 409) and error.status_code < 500:
                    raise TeacherError(f"the teacher answered {error.status_code}: {_message(error)}") from None
                wait = self._backoff(attempt)
                self._log_retry(attempt, _describe(error), wait)
            self.retries += 1
            await asyncio.sleep(wait)
        raise TeacherError(
            f"the teacher at {config.base_url} still failed after {config.max_retries} retries; "
            "the run folder keeps everything done so far: run the same command again to continue"
        )

    @staticmethod
    def wire_params(body: dict[str, Any]) -> dict[str, Any]:
        """The JSON body sent to the server: the request without our own fields."""
        return {name: value for name, value in body.items() if name != "endpoint" and value is not None}

    async def _call(self, body: dict[str, Any]) -> TeacherResponse:
        started = time.perf_counter()
        params = self.wire_params(body)
        if self.config.api == "chat":
            raw = await self._client.chat.completions.with_raw_response.create(**params)
            response = raw.parse()
            choice = response.choices[0]
            text = choice.message.content or ""
        else:
            raw = await self._client.completions.with_raw_response.create(**params)
            response = raw.parse()
            choice = response.choices[0]
            text = choice.text
        self._read_rate_limit_headers(raw.headers)
        usage = response.usage
        return TeacherResponse(
            text=text,
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=response.model,
            request_id=raw.headers.get("x-request-id") or response.id,
            latency_s=time.perf_counter() - started,
        )

    def _read_rate_limit_headers(self, headers: httpx.Headers) -> None:
        """When the server says a budget is spent, hold all senders until it resets."""
        for budget in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{budget}")
            if remaining is not None and remaining.strip() == "0":
                reset = parse_duration(headers.get(f"x-ratelimit-reset-{budget}"))
                if reset:
                    self.limiter.pause(reset)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter (AWS architecture blog), capped."""
        return self._jitter.uniform(0, min(self.config.max_backoff_s, self.config.backoff_s * 2**attempt))

    def _log_retry(self, attempt: int, what: str, wait: float) -> None:
        log.warning(
            "teacher request failed (%s); retry %d/%d in %.1fs", what, attempt + 1, self.config.max_retries, wait
        )

    async def aclose(self) -> None:
        await self._client.close()


def _describe(error: openai.APIError) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed"
    return f"{getattr(error, 'status_code', '?')} {type(error).__name__}"


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(error.message)
