"""Where the teacher lives: a server the user names, OpenAI itself, or the built-in offline simulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.core.errors import PipelineError
from pipeline.teacher.config import OPENAI_BASE_URL, check_base_url

LOCAL_SERVER_KEY = "not-needed"  # local servers (vLLM, llama.cpp, Ollama) want some non-empty key


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str
    model: str | None  # a model the endpoint serves when the user named none
    offline: bool  # True when the built-in simulator answers


@contextmanager
def resolve_endpoint(base_url: str | None, api_key: str | None) -> Iterator[Endpoint]:
    """Pick the teacher from what the user set; with neither a base URL nor a key, start the offline simulator.

    The key is only ever passed on to the client; callers must not log the Endpoint's `api_key`.
    """
    if base_url or api_key:
        yield Endpoint(base_url or OPENAI_BASE_URL, api_key or LOCAL_SERVER_KEY, None, False)
        return
    from pipeline.simulator.server import DEFAULT_MODEL, SimulatorServer  # the server library loads only offline

    with SimulatorServer() as server:
        yield Endpoint(server.base_url, LOCAL_SERVER_KEY, DEFAULT_MODEL, True)


def teacher_model(endpoint: Endpoint, model: str | None, default: str) -> str:
    """The model to ask: the one named; else the offline teacher's; else, at a server the user named, the one model
    it serves (a local server echoes any name, so guessing would credit the wrong model); else OpenAI's `default`."""
    if model:
        return model
    if endpoint.model:
        return endpoint.model
    if endpoint.base_url.rstrip("/") == OPENAI_BASE_URL:
        return default
    try:
        check_base_url(endpoint.base_url)  # "not a url" is a usage error, not a server that lists no models
    except ValueError as error:
        raise PipelineError(f"{error}; check --base-url or OPENAI_BASE_URL") from None
    from pipeline.teacher.models import served_model  # loads httpx only when a server is asked

    return served_model(endpoint.base_url, endpoint.api_key)


def budget_prices(
    prices: dict[str, tuple[float, float]], endpoint: Endpoint, model: str, budget: float | None
) -> dict[str, tuple[float, float]]:
    """The price table for a run with `budget`: the built-in offline teacher is free, so a budget against it (the
    scheduled deployments carry one) needs no price; any other model without a price is refused by the engine."""
    if endpoint.offline and budget is not None:
        return {model: (0.0, 0.0), **prices}
    return prices
