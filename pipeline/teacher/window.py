"""How many requests to keep in flight: a window that adapts to the server, additive increase, multiplicative decrease.

A server that serves one request at a time (llama.cpp with one slot) queues the rest; with too many in flight they
time out while the server still computes them, and are paid for again. The window grows while answers come back in
time and halves on a sign of overload (a timeout, 429, 503, or an answer that took over half the timeout: queueing),
as TCP's congestion window does: it starts at 1 and doubles each round of answers in time (slow start) up to the
first overload, then grows by one a round. `--concurrency` is its upper bound, so a large API gets the full window.
"""

from __future__ import annotations

import time


class AdaptiveWindow:
    """The number of requests that may be in flight; fed by the client with each answer and each overload.

    Args:
        limit: the most requests in flight (`--concurrency`).
        slow_s: an answer slower than this means the server is queueing requests (half the request timeout).
    """

    def __init__(self, limit: int, slow_s: float) -> None:
        if limit < 1 or not slow_s > 0:
            raise ValueError(f"limit must be >= 1 and slow_s > 0, got {limit} and {slow_s}")
        self.limit = limit
        self.slow_s = slow_s
        self.size = 1.0
        self.threshold = float(limit)  # slow start below it, one more a round above it
        self.shrinks = 0
        self._shrunk_at = -float("inf")
        self._last_latency = 0.0

    @property
    def allowed(self) -> int:
        """Requests that may be in flight now."""
        return max(1, min(self.limit, int(self.size)))

    def answered(self, latency_s: float) -> None:
        """An answer came back after `latency_s` seconds."""
        self._last_latency = latency_s
        if latency_s > self.slow_s:
            self.overloaded()
            return
        self.size = min(float(self.limit), self.size + (1.0 if self.size < self.threshold else 1.0 / self.size))

    def overloaded(self) -> None:
        """A timeout, 429 or 503: halve the window, once per round trip (the requests in flight then saw the same
        congestion, and must not halve it again each)."""
        now = time.monotonic()
        if now - self._shrunk_at < max(self._last_latency, 0.05):
            return
        self._shrunk_at = now
        self.shrinks += 1
        self.threshold = max(1.0, self.size / 2)
        self.size = self.threshold
