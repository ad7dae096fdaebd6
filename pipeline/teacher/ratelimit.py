"""Client-side request and token budgets per minute, so a run stays under the teacher's rate limits."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """Paces requests to `rpm` per minute and tokens to `tpm` per minute; either may be None (no limit).

    Requests are spaced evenly (1/rpm minutes apart) rather than sent in bursts, which is what keeps a
    server's sliding-window limiter from answering 429. Tokens are charged before sending from an
    estimate and corrected with the usage the server reports (`settle`). Servers that say they are out
    of budget (429 Retry-After, x-ratelimit-remaining-* = 0) pause every sender until the given time.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        if rpm is not None and rpm <= 0 or tpm is not None and tpm <= 0:
            raise ValueError("rpm and tpm must be positive when given")
        self.rpm = rpm
        self.tpm = tpm
        self._lock = asyncio.Lock()
        self._next_request = 0.0  # earliest time the next request may go
        self._tokens = float(tpm) if tpm else 0.0  # token bucket level, refilled at tpm/60 per second
        self._refilled_at = time.monotonic()
        self._paused_until = 0.0

    def _refill(self, now: float) -> None:
        if self.tpm:
            self._tokens = min(float(self.tpm), self._tokens + (now - self._refilled_at) * self.tpm / 60.0)
        self._refilled_at = now

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one more request of about `tokens` tokens fits both budgets, then charge it."""
        async with self._lock:  # FIFO: senders take their turn in the order they asked
            while True:
                now = time.monotonic()
                self._refill(now)
                wait = max(self._paused_until - now, self._next_request - now, 0.0)
                if self.tpm and self._tokens < min(tokens, self.tpm):
                    wait = max(wait, (min(tokens, self.tpm) - self._tokens) * 60.0 / self.tpm)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.rpm:
                self._next_request = max(now, self._next_request) + 60.0 / self.rpm
            if self.tpm:
                self._tokens -= tokens

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the charge of a finished request with the tokens it really used."""
        if self.tpm:
            self._tokens = min(float(self.tpm), self._tokens + estimated - actual)

    def pause(self, seconds: float) -> None:
        """Hold every sender for `seconds` from now (the server said its budget is spent)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
