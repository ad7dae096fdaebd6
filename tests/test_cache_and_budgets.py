"""The response cache, the rate limiter and the price table, each on its own."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from pipeline.core.errors import InputDataError
from pipeline.teacher.cache import ResponseCache, request_key
from pipeline.teacher.client import parse_duration
from pipeline.teacher.cost import cost_usd, load_prices
from pipeline.teacher.ratelimit import RateLimiter

BODY = {"endpoint": "chat", "model": "m", "temperature": 1.0, "messages": [{"role": "user", "content": "hi"}]}


def test_key_covers_every_parameter_and_the_sample_number() -> None:
    base = request_key(BODY, 0)
    assert request_key(dict(BODY), 0) == base
    assert request_key(BODY, 1) != base
    assert request_key({**BODY, "temperature": 0.7}, 0) != base
    assert request_key({**BODY, "model": "n"}, 0) != base
    assert request_key({**BODY, "endpoint": "completions"}, 0) != base


def test_round_trip_persistence_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put("k", {"text": "answer", "cached": False})
    cache.close()
    reopened = ResponseCache(path)
    assert reopened.get("k") == {"text": "answer", "cached": False} and reopened.get("other") is None
    assert len(reopened) == 1 and reopened.clear() == 1 and len(reopened) == 0
    reopened.close()


def _write_then_die(path: str, count: int) -> None:
    cache = ResponseCache(path)
    for i in range(count):
        cache.put(f"k{i}", {"i": i})
    os._exit(0)  # no close, no cleanup: like a crash right after the last write


def test_entries_survive_a_process_that_dies_without_closing(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    process = multiprocessing.get_context("spawn").Process(target=_write_then_die, args=(path, 50))
    process.start()
    process.join(60)
    cache = ResponseCache(path)
    assert len(cache) == 50 and cache.get("k49") == {"i": 49}
    cache.close()


def test_requests_are_paced_to_the_rpm_budget() -> None:
    async def main() -> float:
        limiter = RateLimiter(rpm=600)  # one request every 0.1 s
        started = time.perf_counter()
        await asyncio.gather(*(limiter.acquire() for _ in range(11)))
        return time.perf_counter() - started

    assert 0.9 <= asyncio.run(main()) < 2.0


def test_tokens_are_paced_to_the_tpm_budget_and_settled() -> None:
    async def main() -> float:
        limiter = RateLimiter(tpm=6000)  # 100 tokens per second, bucket of 6000
        await limiter.acquire(6000)  # drains the bucket
        limiter.settle(6000, 5900)  # the request really used 100 fewer: those come back
        started = time.perf_counter()
        await limiter.acquire(200)  # 100 available, 100 more take ~1 s
        return time.perf_counter() - started

    assert 0.7 <= asyncio.run(main()) < 2.0


def test_pause_holds_every_sender() -> None:
    async def main() -> float:
        limiter = RateLimiter()
        limiter.pause(0.5)
        started = time.perf_counter()
        await limiter.acquire()
        return time.perf_counter() - started

    assert 0.45 <= asyncio.run(main()) < 1.5


def test_retry_after_and_reset_header_durations() -> None:
    assert parse_duration("2") == 2.0 and parse_duration("1m30s") == 90.0 and parse_duration("250ms") == 0.25
    assert parse_duration(None) is None and parse_duration("soon") is None


def test_price_table_and_override(tmp_path: Path) -> None:
    prices = load_prices(None)
    assert cost_usd(prices, "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd(prices, "my-local-model", 10, 10) is None
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"my-local-model": {"input": 1.0, "output": 2.0}}))
    assert cost_usd(load_prices(table), "my-local-model", 500_000, 250_000) == pytest.approx(1.0)
    table.write_text(json.dumps({"m": {"input": "cheap"}}))
    with pytest.raises(InputDataError, match="field 'm'"):
        load_prices(table)
