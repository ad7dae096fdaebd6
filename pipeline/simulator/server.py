"""An offline OpenAI-compatible teacher: deterministic task lists, defects and faults on demand, over aiohttp."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aiohttp import web
from aiohttp.typedefs import Handler

from pipeline.simulator import batches, grammar, review

DEFAULT_MODEL = "simulated-teacher"
OWNER = "alpaca-pipeline-simulator"
MODEL_CREATED = 1_700_000_000  # a fixed date, so the model listing is the same on every run
FAULTS = ("rate_limit", "server_error", "unavailable", "hang", "drop", "garbage", "truncate", "not_json", "html",
          "empty_object", "no_choices")  # fmt: skip
# HTTP 200 answers that are no completion at all, as a misconfigured proxy or a crashing server sends them
MALFORMED_BODIES = {
    "not_json": ("application/json", '{"id": "cmpl-1", "choices": [{"text": "cut'),
    "html": ("text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "empty_object": ("application/json", "{}"),
    "no_choices": ("application/json", '{"id": "cmpl-1", "object": "text_completion", "created": 0, "choices": []}'),
}
FAULT_PARAMS = {"rate_limit": {"retry_after": 1.0}, "hang": {"seconds": 30.0}}  # defaults; other faults take none
CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English; cheap, deterministic and close enough for budgets
RATE_WINDOW_S = 60.0  # rpm and tpm limits count over a sliding minute


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """What the simulated teacher serves, how often its answers are defective, and which faults it injects."""

    models: tuple[str, ...] = (DEFAULT_MODEL,)
    api_key: str | None = None  # None accepts any key, like a local llama.cpp server
    seed: int = 0  # server seed: with the prompt and the request's `seed`, it fixes every answer
    latency_s: float = 0.0  # added before each answer (asyncio.sleep, so requests overlap)
    rpm_limit: int | None = None  # requests per sliding minute; beyond it 429 + Retry-After
    tpm_limit: int | None = None  # tokens per sliding minute (prompt + completion, as OpenAI counts them)
    near_duplicate_share: float = 0.08  # items that copy a demonstration or an earlier item with a tiny edit
    malformed_share: float = 0.10  # items broken in one of simulator_grammar.MALFORMED_KINDS
    truncated_share: float = 0.05  # answers cut mid-item with finish_reason "length"
    drift_share: float = 0.10  # answers with one of simulator_grammar.DRIFT_KINDS, which a tolerant parser absorbs
    off_topic_share: float = 0.0  # items answered with text about something else, which only a judge can catch
    batch_phase_s: float = 0.0  # seconds a batch spends validating, then in progress, then finalizing
    batch_expire_first: int = 0  # this many batches expire with half their lines answered, then batches complete
    batch_line_error_every: int = 0  # every Nth line of a batch fails with a 500 in the error file (0: none)
    fault_rates: Mapping[str, float] = field(default_factory=dict)  # per-request chance of each of FAULTS
    slots: int | None = None  # answers written at once, the others wait in line (llama.cpp: 1); None: no limit

    def __post_init__(self) -> None:
        object.__setattr__(self, "fault_rates", MappingProxyType(dict(self.fault_rates)))
        if not self.models:
            raise ValueError(f"models must name at least one model, e.g. ({DEFAULT_MODEL!r},)")
        for name in ("near_duplicate_share", "malformed_share", "truncated_share", "drift_share", "off_topic_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.near_duplicate_share + self.malformed_share > 1.0:
            raise ValueError("near_duplicate_share + malformed_share must not exceed 1: they split the same items")
        if unknown := sorted(set(self.fault_rates) - set(FAULTS)):
            raise ValueError(f"unknown fault(s) {unknown} in fault_rates; choose from {FAULTS}")
        rates = self.fault_rates.values()
        if not all(0 <= rate <= 1 for rate in rates) or sum(rates) > 1.0:  # NaN fails the range too
            raise ValueError(f"fault_rates must be non-negative and sum to at most 1, got {dict(self.fault_rates)}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s}")
        if self.slots is not None and self.slots < 1:
            raise ValueError(f"slots must be a positive number or None (no limit), got {self.slots}")
        for name in ("rpm_limit", "tpm_limit"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive number or None (no limit), got {getattr(self, name)}")


DEFAULT_CONFIG = SimulatorConfig()

# ---- answers: pure functions of (prompt, rng, config) -------------------------------------------------------------


def answer_rng(prompt_text: str, request_seed: int | None, server_seed: int) -> random.Random:
    """The rng of one answer: a function of prompt, request seed and server seed only (no `hash()`)."""
    digest = hashlib.sha256(f"{server_seed}\x00{request_seed}\x00{prompt_text}".encode()).hexdigest()
    return random.Random(digest)


def generate_answer(prompt_text: str, rng: random.Random, config: SimulatorConfig, chat: bool) -> tuple[str, str]:
    """The teacher's answer to a bootstrap prompt and its finish_reason, before max_tokens and stop apply.

    A completion continues right after the prompt's final "N. Instruction:"; a chat answer (or an answer to a
    prompt that does not end with that header) restates it, so chat text == "N. Instruction:" + completion text.
    """
    reviewed = review.review_answer(prompt_text, rng)
    if reviewed is not None:  # a judge or re-answer prompt
        return reviewed, "stop"
    facts = grammar.read_prompt(prompt_text)
    blocks = grammar.draw_blocks(facts, rng, config.near_duplicate_share, config.malformed_share)
    if config.off_topic_share:  # no draw at 0, so the default answers stay as they were
        blocks = review.with_off_topic_outputs(blocks, rng, config.off_topic_share)
    drift = grammar.pick(rng, grammar.DRIFT_KINDS) if rng.random() < config.drift_share else ""
    if drift == "skipped_number":
        blocks = grammar.skip_number(blocks, rng)
    text, finish_reason = grammar.render_answer(blocks, drift, rng), "stop"
    if rng.random() < config.truncated_share:
        text, finish_reason = grammar.truncate(text, rng), "length"
    if facts.ends_with_header and not chat:  # the cut lies in the second half, so the header is still there
        text = text.removeprefix(f"{facts.first_index}. Instruction:")
    return text, finish_reason


def estimate_tokens(text: str) -> int:
    """About four characters a token, rounded up: `estimate_tokens("Hello!")` -> 2."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def apply_limits(text: str, finish_reason: str, max_tokens: int | None, stop: tuple[str, ...]) -> tuple[str, str]:
    """Cut at the first stop sequence (excluded; finish "stop"), then at max_tokens (finish "length")."""
    cuts = [at for sequence in stop if sequence and (at := text.find(sequence)) >= 0]
    if cuts:
        text, finish_reason = text[: min(cuts)], "stop"
    if max_tokens is not None and estimate_tokens(text) > max_tokens:
        text, finish_reason = text[: max_tokens * CHARS_PER_TOKEN], "length"
    return text, finish_reason


# ---- requests ------------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error the server answers in OpenAI's schema: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return web.json_response({"error": error}, status=self.status, headers=self.headers)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """The fields of a completion or chat request that the simulator uses."""

    model: str
    prompt_text: str  # completion: the prompt; chat: the last user message
    prompt_tokens: int  # estimate_tokens of the prompt; for chat, summed over every message's content
    max_tokens: int | None
    stop: tuple[str, ...]
    seed: int | None


def optional_int(body: Mapping[str, object], name: str) -> int | None:
    """An integer field that may be absent (None); max_tokens and its kin must be positive."""
    value = body.get(name)
    if value is not None and (type(value) is not int or (name != "seed" and value < 1)):
        raise ApiError(
            400, f"'{name}' must be {'an integer' if name == 'seed' else 'a positive integer'}.", param=name
        )
    return value


def parse_request(body: object, chat: bool, models: tuple[str, ...]) -> CompletionRequest:
    """Validate a request body; raises ApiError (400, or 404 for an unknown model)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "You must provide a model parameter.", param="model")
    if model not in models:
        message = f"The model `{model}` does not exist or you do not have access to it."
        raise ApiError(404, message, param="model", code="model_not_found")
    if body.get("stream"):
        raise ApiError(400, "The simulator does not stream; send the request without stream=true.", param="stream")
    if body.get("n", 1) not in (1, None):  # llama.cpp ignores n>1; an error surfaces the mistake instead
        raise ApiError(400, "The simulator writes one choice per request; send n=1 or leave it out.", param="n")
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise ApiError(400, "'messages' must be a list of {role, content} objects.", param="messages")
        user = [m.get("content") for m in messages if m["role"] == "user"]
        if not user or not isinstance(user[-1], str):
            raise ApiError(400, "'messages' must end with a user message whose content is a string.", param="messages")
        prompt_text = user[-1]
        prompt_tokens = sum(estimate_tokens(str(m.get("content") or "")) for m in messages)
        max_tokens = optional_int(body, "max_completion_tokens") or optional_int(body, "max_tokens")
    else:
        prompt_text = body.get("prompt")
        if isinstance(prompt_text, list):  # llama.cpp's server rejects prompt lists too; send one prompt a request
            raise ApiError(400, "'prompt' must be one string: the simulator does not batch prompts.", param="prompt")
        if not isinstance(prompt_text, str):
            raise ApiError(400, "You must provide a prompt (a string).", param="prompt")
        prompt_tokens = estimate_tokens(prompt_text)
        max_tokens = optional_int(body, "max_tokens")
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if not all(isinstance(sequence, str) for sequence in stops):
        raise ApiError(400, "'stop' must be a string or a list of strings.", param="stop")
    return CompletionRequest(model, prompt_text, prompt_tokens, max_tokens, stops, optional_int(body, "seed"))


# ---- the server ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it."""

    endpoint: str  # the path, e.g. "/v1/completions"
    model: str  # "" when the body names none
    body_sha256: str  # of the canonical JSON body (sorted keys), or of the raw bytes when it is no JSON
    timestamp: float  # time.time() at arrival
    status: int  # 0: the connection was dropped without a response; 499: the client went away first


@dataclass(frozen=True, slots=True)
class Fault:
    """One of FAULTS with its parameters (FAULT_PARAMS holds the defaults)."""

    name: str
    params: Mapping[str, float]


class Recorder:
    """A thread-safe log of requests: the server's event loop appends, tests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot copy, safe to read while the server runs."""
        with self._lock:
            return list(self._requests)

    def stats(self) -> dict[str, int]:
        """Requests per status, e.g. {"200": 12, "429": 2, "dropped": 1}."""
        return dict(Counter("dropped" if r.status == 0 else str(r.status) for r in self.requests))


class FaultQueue:
    """Faults queued by tests (from any thread) for the next completion requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()

    def push(self, fault: str, count: int = 1, **params: float) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {FAULTS}")
        if unknown := sorted(set(params) - set(FAULT_PARAMS.get(fault, {}))):
            raise ValueError(f"fault {fault!r} takes {sorted(FAULT_PARAMS.get(fault, {}))}, not {unknown}")
        with self._lock:
            self._queue.extend([Fault(fault, {**FAULT_PARAMS.get(fault, {}), **params})] * count)

    def pop(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None


class ServerState:
    """The mutable side of one app: rate windows and fault draws (event loop only), recorder and queue."""

    def __init__(self, config: SimulatorConfig, recorder: Recorder, faults: FaultQueue) -> None:
        self.config, self.recorder, self.faults = config, recorder, faults
        self.fault_rng = random.Random(f"faults:{config.seed}")
        self.request_times: deque[float] = deque()
        self.token_log: deque[tuple[float, int]] = deque()
        self.stopping = asyncio.Event()  # set on shutdown, so hangs and latency end at once
        self.wake = asyncio.Event()  # set by end_hangs(): the hangs under way answer now
        self.slots = asyncio.Semaphore(config.slots) if config.slots else None
        self.busy_s = 0.0  # seconds some slot spent writing answers (with `slots`), for utilisation figures
        self.active = self.peak_active = 0  # completion requests being handled now, and the most at once

    def end_hangs(self) -> None:
        """Let every hang under way answer at once; later hangs wait again."""
        self.wake.set()
        self.wake = asyncio.Event()

    def admit(self, now: float) -> dict[str, str]:
        """Count a request against the rpm/tpm windows; raises a 429 ApiError when a limit is reached."""
        while self.request_times and self.request_times[0] <= now - RATE_WINDOW_S:
            self.request_times.popleft()
        while self.token_log and self.token_log[0][0] <= now - RATE_WINDOW_S:
            self.token_log.popleft()
        rpm, tpm = self.config.rpm_limit, self.config.tpm_limit
        waits = []
        if rpm is not None and len(self.request_times) >= rpm:
            waits.append(self.request_times[0] + RATE_WINDOW_S - now)
        if tpm is not None and sum(tokens for _, tokens in self.token_log) >= tpm:
            waits.append(self.token_log[0][0] + RATE_WINDOW_S - now)
        if waits:
            headers = {**self.rate_headers(), "Retry-After": str(max(1, math.ceil(max(waits))))}
            raise ApiError(429, "Rate limit reached; retry after the Retry-After header's seconds.", "requests",
                           code="rate_limit_exceeded", headers=headers)  # fmt: skip
        self.request_times.append(now)
        return self.rate_headers()

    def spend(self, now: float, tokens: int) -> None:
        self.token_log.append((now, tokens))

    def rate_headers(self) -> dict[str, str]:
        headers = {}
        if self.config.rpm_limit is not None:
            headers["x-ratelimit-limit-requests"] = str(self.config.rpm_limit)
            headers["x-ratelimit-remaining-requests"] = str(max(0, self.config.rpm_limit - len(self.request_times)))
        if self.config.tpm_limit is not None:
            used = sum(tokens for _, tokens in self.token_log)
            headers["x-ratelimit-limit-tokens"] = str(self.config.tpm_limit)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, self.config.tpm_limit - used))
        return headers

    def next_fault(self) -> Fault | None:
        """A queued fault first; otherwise one drawn at the configured rates."""
        if fault := self.faults.pop():
            return fault
        roll, total = self.fault_rng.random(), 0.0
        for name in FAULTS:
            total += self.config.fault_rates.get(name, 0.0)
            if roll < total:
                return Fault(name, FAULT_PARAMS.get(name, {}))
        return None

    async def pause(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep without blocking other requests, and stop sleeping when the server shuts down (or `wake` is set)."""
        if seconds <= 0:
            return
        waits = [asyncio.ensure_future(event.wait()) for event in (self.stopping, wake) if event is not None]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()


STATE = web.AppKey("state", ServerState)
BODY = web.RequestKey("body", object)  # the parsed JSON body, None when it is no JSON


def canonical_body(raw: bytes) -> tuple[object, str]:
    """The parsed JSON body (None when it is not JSON) and the sha256 that identifies it."""
    try:
        body = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, hashlib.sha256(raw).hexdigest()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return body, hashlib.sha256(canonical.encode()).hexdigest()


async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the API key, run the handler, and answer an ApiError in OpenAI's error schema."""
    key = request.app[STATE].config.api_key
    try:
        if key is not None and request.headers.get("Authorization") != f"Bearer {key}":
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        return await handler(request)
    except ApiError as error:
        return error.response()


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every request with the status it got, and give every response an x-request-id."""
    state = request.app[STATE]
    body, digest = canonical_body(await request.read())
    request[BODY] = body
    model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else ""
    arrived, status = time.time(), 499  # 499 stays when the client goes away and cancels the handler
    try:
        response = await respond(request, handler)
        transport = request.transport
        status = 0 if transport is None or transport.is_closing() else response.status
    except web.HTTPException as error:  # aiohttp's own answers, e.g. 404 for an unknown path
        status = error.status
        raise
    finally:
        state.recorder.record(RecordedRequest(request.path, model, digest, arrived, status))
    response.headers["x-request-id"] = f"req_{uuid.uuid4().hex}"
    return response


async def list_models(request: web.Request) -> web.Response:
    models = request.app[STATE].config.models
    data = [{"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": OWNER} for model in models]
    return web.json_response({"object": "list", "data": data})


async def complete(request: web.Request, chat: bool) -> web.StreamResponse:
    """Answer /v1/completions or /v1/chat/completions, unless a fault is due."""
    state = request.app[STATE]
    if request[BODY] is None:
        raise ApiError(400, "We could not parse the JSON body of your request; send a JSON object.")
    parsed = parse_request(request[BODY], chat, state.config.models)
    now = time.monotonic()
    headers = state.admit(now)
    fault = state.next_fault()
    if fault is not None and fault.name == "rate_limit":
        retry = {"Retry-After": str(math.ceil(fault.params["retry_after"]))}
        raise ApiError(429, "Rate limit reached (injected).", "requests", code="rate_limit_exceeded",
                       headers={**headers, **retry})  # fmt: skip
    if fault is not None and fault.name in ("server_error", "unavailable"):
        status = 500 if fault.name == "server_error" else 503
        raise ApiError(status, "The server had an error processing your request (injected).", "server_error")
    if fault is not None and fault.name == "drop":
        if request.transport is not None:
            request.transport.abort()  # close the TCP connection without a byte of response
        return web.Response(status=500)
    if fault is not None and fault.name in MALFORMED_BODIES:
        content_type, text = MALFORMED_BODIES[fault.name]
        return web.Response(text=text, content_type=content_type, headers=headers)
    if fault is not None and fault.name == "hang":
        await state.pause(fault.params["seconds"], state.wake)
    if state.slots is None:
        await state.pause(state.config.latency_s)
    else:  # wait in line for a free slot, then hold it while the answer is "computed"
        async with state.slots:
            started = time.monotonic()
            try:
                await state.pause(state.config.latency_s)
            finally:
                state.busy_s += time.monotonic() - started
    payload = answer_payload(parsed, state.config, chat, fault.name if fault is not None else None)
    state.spend(now, payload["usage"]["total_tokens"])
    return web.json_response(payload, headers=headers)


def answer_payload(parsed: CompletionRequest, config: SimulatorConfig, chat: bool, fault: str | None = None) -> dict:
    """The response body to one parsed request: the same for the online endpoints and a batch's lines."""
    rng = answer_rng(parsed.prompt_text, parsed.seed, config.seed)
    text, finish_reason = generate_answer(parsed.prompt_text, rng, config, chat)
    if fault == "garbage":
        text, finish_reason = grammar.garbage_text(rng), "stop"
    if fault == "truncate":
        text, finish_reason = grammar.truncate(text, rng), "length"
    text, finish_reason = apply_limits(text, finish_reason, parsed.max_tokens, parsed.stop)
    completion_tokens = estimate_tokens(text)
    usage = {
        "prompt_tokens": parsed.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": parsed.prompt_tokens + completion_tokens,
    }
    if chat:
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        prefix, kind = "chatcmpl", "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
        prefix, kind = "cmpl", "text_completion"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
            "model": parsed.model, "choices": [choice], "usage": usage}  # fmt: skip


async def counted(request: web.Request, chat: bool) -> web.StreamResponse:
    """`complete`, counting the requests handled at once (what a client really keeps in flight)."""
    state = request.app[STATE]
    state.active += 1
    state.peak_active = max(state.peak_active, state.active)
    try:
        return await complete(request, chat)
    finally:
        state.active -= 1


async def completions(request: web.Request) -> web.StreamResponse:
    return await counted(request, chat=False)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await counted(request, chat=True)


def make_app(
    config: SimulatorConfig, recorder: Recorder | None = None, faults: FaultQueue | None = None
) -> web.Application:
    """The aiohttp application; pass a Recorder and a FaultQueue to watch and steer it from outside."""
    app = web.Application(middlewares=[observe])
    app[STATE] = ServerState(config, recorder or Recorder(), faults or FaultQueue())
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", chat_completions)
    batches.add_routes(app)
    return app


class SimulatorServer:
    """Runs the app on 127.0.0.1 in a background thread with its own event loop; a context manager."""

    def __init__(self, config: SimulatorConfig = DEFAULT_CONFIG, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config, self.host, self.port = config, host, port  # port 0: the OS picks a free one
        self.base_url = ""  # e.g. "http://127.0.0.1:54321/v1", set by start()
        self._recorder, self._faults = Recorder(), FaultQueue()
        self._app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatorServer:
        """Bind and serve; binding happens here, so a port in use raises OSError in the caller."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already running; call stop() before starting it again")
        self._app = make_app(self.config, self._recorder, self._faults)  # a fresh app: rate windows start empty
        loop = asyncio.new_event_loop()
        # handler_cancellation: a client that gives up (a timeout) cancels its handler, as on a real server
        runner = web.AppRunner(self._app, handler_cancellation=True, shutdown_timeout=5.0)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, self.host, self.port).start())
        except BaseException:
            loop.run_until_complete(runner.cleanup())
            loop.close()
            raise
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"
        self._loop, self._runner = loop, runner
        self._thread = threading.Thread(target=loop.run_forever, name="simulator-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End hangs and pauses, close the site, and join the thread."""
        if self._app is None or self._loop is None or self._runner is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._app[STATE].stopping.set)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a thread-safe snapshot)."""
        return self._recorder.requests

    @property
    def batches_created(self) -> int:
        """Batches created through /v1/batches since the server started."""
        store = getattr(self._app[STATE], "batch_store", None) if self._app is not None else None
        return store["created"] if store else 0

    def inject(self, fault: str, count: int = 1, **params: float) -> None:
        """Make the next `count` completion or chat requests fail with `fault` (one of FAULTS).

        Params: rate_limit takes retry_after (seconds, default 1); hang takes seconds (default 30).
        """
        self._faults.push(fault, count, **params)

    def stats(self) -> dict[str, int]:
        """Requests per status, e.g. {"200": 12, "429": 2, "dropped": 1}."""
        return self._recorder.stats()

    def peak_concurrency(self) -> int:
        """The most completion requests the server was handling at once."""
        return self._app[STATE].peak_active if self._app is not None else 0

    def busy_seconds(self) -> float:
        """Seconds the server's slots spent writing answers (counted only when `SimulatorConfig.slots` is set)."""
        return self._app[STATE].busy_s if self._app is not None else 0.0

    def end_hangs(self) -> None:
        """Make the requests hanging now (an injected `hang`) answer at once, as if their hang had elapsed."""
        if self._app is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._app[STATE].end_hangs)


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the simulator in the foreground until Ctrl-C (the CLI's `alpaca-pipeline teacher simulate`)."""
    with SimulatorServer(config, host, port) as server:
        print(
            f"Simulated teacher at {server.base_url} serving {', '.join(config.models)}; Ctrl-C stops it.", flush=True
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how this command is meant to end
