"""The teacher LLM behind any OpenAI-compatible API; the only module that imports `openai`.

Retries are owned here and nowhere else (the SDK's own are off): 429, 5xx, timeouts, dropped connections and HTTP
200 answers that are no completion (HTML, broken JSON, no choices) back off exponentially with full jitter,
honouring Retry-After; errors no retry can fix (bad key, unknown model, bad parameter, a server that cannot be
reached at all) fail at once with a message that says what to change. Every message raised or logged here passes
through one redaction of the API key and of any Authorization / api-key value, whatever the server echoed.
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

try:  # the SDK's own HTTP library, whose errors are the causes of the SDK's connection errors
    import httpx2 as _http  # openai 3.x sends through this fork of httpx
except ImportError:  # pragma: no cover - older openai releases use httpx itself
    _http = httpx

from pipeline.core.errors import TeacherError
from pipeline.core.records import TeacherResponse
from pipeline.teacher.cache import ResponseCache, request_key
from pipeline.teacher.config import TeacherConfig
from pipeline.teacher.ratelimit import RateLimiter
from pipeline.teacher.window import AdaptiveWindow

log = logging.getLogger(__name__)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
CONNECT_TIMEOUT_S = 5.0  # a server that does not accept a connection in 5 s is down, whatever max_tokens is
REDACTED = "[redacted]"
# A credential after its header or parameter name (`Authorization: Bearer x`, `"api-key": "x"`, `?api-key=x`), or
# after `Bearer` anywhere; the key itself is replaced wherever it appears.
_CREDENTIAL = re.compile(
    r"(?i)(\b(?:authorization|proxy-authorization|x-api-key|api[-_]key|access[-_]token)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:bearer\s+|basic\s+)?|\bbearer\s+)[^\s\"',;&}]+"
)
MIN_SECRET_LENGTH = 6  # shorter "keys" (a local server's "k") are no secret, and replacing them mangles messages


class Redactor:
    """Hides secrets in a message: the API key wherever it appears, and any credential after its header name.

    >>> Redactor("sk-abc123")("bad header 'Authorization: Bearer sk-abc123' (key sk-abc123)")
    "bad header 'Authorization: Bearer [redacted]' (key [redacted])"
    """

    def __init__(self, *secrets: str) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _CREDENTIAL.sub(lambda match: match.group(1) + REDACTED, text)


class _ContextTooShort(Exception):
    """The request overflowed the teacher's context; `Teacher.context_max_tokens` was lowered for the run."""


class MalformedAnswerError(Exception):
    """An HTTP 200 answer that is no completion: not JSON, an HTML page, `{}`, no choices, no text."""


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
        max_in_flight: int = 1,
    ) -> None:
        self.config = config
        self.cache = cache
        self.limiter = RateLimiter(config.rpm, config.tpm)
        self.in_flight = 0
        self.retries = 0
        self.malformed = 0  # HTTP 200 answers that were no completion, each retried
        self.timeouts = 0  # requests that got no answer within the timeout, each retried
        # How many requests a driver keeps in flight: shrinks on overload, grows back while answers come in time
        self.window = AdaptiveWindow(max_in_flight, slow_s=config.request_timeout_s / 2)
        self.redact = Redactor(api_key)
        self._reached = False  # True once the server answered anything: a connection failure is then transient
        self._jitter = random.Random()  # timing only; never affects which data is made
        timeout = openai.Timeout(config.request_timeout_s, connect=min(CONNECT_TIMEOUT_S, config.request_timeout_s))
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=config.base_url, timeout=timeout, max_retries=0, http_client=http_client
        )

    # The max_tokens the server's context length forced on this run (None: the configured one fits); remembered, so
    # one overflow is not paid again by every later request, and part of each request's cache key.
    context_max_tokens: int | None = None

    def request_body(self, prompt: Prompt, stop: list[str], seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {**self.config.decoding(), "stop": stop or None, "n": 1, "seed": seed}
        if self.context_max_tokens is not None:
            body["max_tokens"] = self.context_max_tokens
        if self.config.api == "chat":
            body["messages"] = list(prompt.messages)
        else:
            body["prompt"] = prompt.text
        return body

    async def ask(self, prompt: Prompt, stop: list[str], seed: int | None = None, sample: int = 0) -> TeacherResponse:
        """The answer to one request, from the cache when it was paid for before."""
        while True:  # again after the context forced a smaller max_tokens: the cache may hold that answer
            body = self.request_body(prompt, stop, seed)
            key = request_key(body, sample)
            if self.cache is not None and (hit := self.cache.get(key)) is not None:
                return TeacherResponse.from_dict(hit, cached=True)
            self.in_flight += 1
            try:
                response = await self._send(body)
                break
            except _ContextTooShort:
                continue
            finally:
                self.in_flight -= 1
        if self.cache is not None:
            self.cache.put(key, {**response.to_dict(), "cached": False})
        return response

    async def _send(self, body: dict[str, Any]) -> TeacherResponse:
        config = self.config
        max_tokens = body["max_tokens"]
        estimate = len(body.get("prompt") or str(body.get("messages"))) // 4 + max_tokens
        what = ""
        for attempt in range(config.max_retries + 1):
            await self.limiter.acquire(estimate)
            started = time.perf_counter()
            try:
                response = await self._call({**body, "max_tokens": max_tokens})
                self._reached = True
                self.window.answered(response.latency_s)
                self.limiter.settle(estimate, response.prompt_tokens + response.completion_tokens)
                return response
            except MalformedAnswerError as error:
                self._reached = True
                self.malformed += 1
                wait, what = self._backoff(attempt), f"HTTP 200 that is no completion: {error}"
            except openai.BadRequestError as error:
                self._reached = True
                if error.code == "context_length_exceeded" and max_tokens > 256:
                    # The prompt plus max_tokens overflow the context: the run asks for half from now on (unless
                    # another request already lowered it further), and this request goes again through the cache.
                    if self.context_max_tokens is None or max_tokens <= self.context_max_tokens:
                        self.context_max_tokens = max_tokens // 2
                        log.warning("the teacher's context is too short for max_tokens=%d: this run asks for %d",
                                    max_tokens, self.context_max_tokens)  # fmt: skip
                    raise _ContextTooShort from None
                else:
                    raise self._error(f"the teacher rejected the request (400): {_message(error)}") from None
            except openai.AuthenticationError:
                raise self._error(
                    f"the teacher at {config.base_url} rejected the API key (401): set OPENAI_API_KEY to a valid key"
                ) from None
            except openai.PermissionDeniedError as error:
                raise self._error(
                    f"the teacher at {config.base_url} refused access (403): {_message(error)}; "
                    "check that the key may use this model"
                ) from None
            except openai.NotFoundError:
                raise self._error(
                    f"model {config.model!r} was not found at {config.base_url} (404): pass --model with a model "
                    f"the server lists at {config.base_url.rstrip('/')}/models, and check --base-url"
                ) from None
            except openai.RateLimitError as error:
                self._reached = True
                self.window.overloaded()
                retry_after = parse_duration(error.response.headers.get("retry-after"))
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                self.limiter.pause(wait)
                what = f"429 rate limited after {time.perf_counter() - started:.1f}s"
            except (openai.APIConnectionError, openai.InternalServerError) as error:  # timeouts, drops, 5xx
                if not self._reached and _unreachable(error):
                    raise self._error(
                        f"cannot reach the teacher at {config.base_url} ({_cause(error)}): check --base-url "
                        "(or OPENAI_BASE_URL) and that the server is running"
                    ) from None
                if isinstance(error, openai.APITimeoutError) or getattr(error, "status_code", None) == 503:
                    self.timeouts += isinstance(error, openai.APITimeoutError)
                    self.window.overloaded()
                wait, what = self._backoff(attempt), _describe(error, config.request_timeout_s)
            except openai.APIStatusError as error:
                self._reached = True
                if error.status_code not in (408, 409) and error.status_code < 500:
                    raise self._error(f"the teacher answered {error.status_code}: {_message(error)}") from None
                wait, what = self._backoff(attempt), _describe(error, config.request_timeout_s)
            except openai.OpenAIError as error:  # anything else the SDK raises: one clear line, never the key
                failure = f"{type(error).__name__}: {error}"
                raise self._error(f"the teacher at {config.base_url} failed: {failure}") from None
            if attempt == config.max_retries:
                break  # no sleep after the last attempt
            self.retries += 1
            log.warning(self.redact(f"teacher request failed ({what}); retry {attempt + 1}/{config.max_retries} "
                                    f"in {wait:.1f}s"))  # fmt: skip
            await asyncio.sleep(wait)
        raise self._error(
            f"the teacher at {config.base_url} still failed after {config.max_retries} retries (last: {what}); "
            "the run folder keeps everything done so far: run the same command again to continue"
        )

    def _error(self, message: str) -> TeacherError:
        """The one way this module raises: the message with every secret redacted."""
        return TeacherError(self.redact(message))

    @staticmethod
    def wire_params(body: dict[str, Any]) -> dict[str, Any]:
        """The JSON body sent to the server: the request without our own fields."""
        return {name: value for name, value in body.items() if name != "endpoint" and value is not None}

    async def _call(self, body: dict[str, Any]) -> TeacherResponse:
        started = time.perf_counter()
        params = self.wire_params(body)
        if self.config.api == "chat":
            raw = await self._client.chat.completions.with_raw_response.create(**params)
        else:
            raw = await self._client.completions.with_raw_response.create(**params)
        self._read_rate_limit_headers(raw.headers)
        try:
            response = raw.parse()
        except ValueError as error:  # the SDK's json.loads of a body cut short or not JSON
            raise MalformedAnswerError(f"invalid JSON ({error})") from None
        if isinstance(response, str):  # the SDK hands back the text of a body that is not JSON
            kind = raw.headers.get("content-type", "no content type").split(";")[0]
            raise MalformedAnswerError(f"a {kind} body: {response[:80]!r}")
        choices = getattr(response, "choices", None)
        if not choices:
            raise MalformedAnswerError(f"no choices in {raw.http_response.text[:80]!r}")
        choice = choices[0]
        if self.config.api == "chat":
            message = getattr(choice, "message", None)
            text = getattr(message, "content", None) or ""
        else:
            text = getattr(choice, "text", None)
        if not isinstance(text, str):
            raise MalformedAnswerError(f"a choice without text: {raw.http_response.text[:80]!r}")
        usage = getattr(response, "usage", None)
        return TeacherResponse(
            text=text,
            finish_reason=getattr(choice, "finish_reason", None) or "stop",
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            model=getattr(response, "model", None) or self.config.model,
            request_id=raw.headers.get("x-request-id") or getattr(response, "id", None) or "",
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

    async def aclose(self) -> None:
        await self._client.close()


def _describe(error: openai.APIError, timeout_s: float) -> str:
    if isinstance(error, openai.APITimeoutError):
        return f"no answer within {timeout_s:g}s (--timeout)"
    if isinstance(error, openai.APIConnectionError):
        return f"connection failed: {_cause(error)}"
    return f"{getattr(error, 'status_code', '?')} {type(error).__name__}"


def _unreachable(error: openai.APIError) -> bool:
    """True when no connection could be made at all (refused, unknown host, bad URL), not when one broke."""
    cause = error.__cause__
    return isinstance(cause, _http.ConnectError | _http.ConnectTimeout | _http.UnsupportedProtocol | _http.InvalidURL)


def _cause(error: openai.APIError) -> str:
    cause = error.__cause__
    if isinstance(cause, _http.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g}s"
    return str(cause or error) or type(cause or error).__name__


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(error.message)
