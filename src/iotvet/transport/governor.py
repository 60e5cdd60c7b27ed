"""The run's budgets: rate, concurrency, request count and wall time, shared by HTTP and MQTT.

Every request and every MQTT publish asks the governor for a permit first. Logins included.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from iotvet.core.errors import BudgetExhausted, TargetErrorKind


class RateLimiter:
    """At most ``rate`` requests in any one-second window *as the target sees them*.

    The window of a request is counted from the moment its exchange completed (the answer
    arrived, so the request had arrived before), not from when it was sent. A new request may
    start only while fewer than ``capacity`` requests are in flight or completed within the
    last window. Then for any k+1 arrivals, the last one started at least one window after
    another one had completed, hence arrived: no network jitter can squeeze k+1 arrivals into
    one window. Fractional rates below 1 become one request per 1/rate seconds.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, math.floor(rate))
        self.window = 1.0 if rate >= 1 else 1.0 / rate
        self._completed: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request keeps every window within the rate. Waiters go in order."""
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._completed and now - self._completed[0] >= self.window:
                    self._completed.popleft()
                if self._in_flight + len(self._completed) < self.capacity:
                    self._in_flight += 1
                    return
                self._changed.clear()
                timeout = self._completed[0] + self.window - now if self._completed else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    def release(self) -> None:
        """The request's exchange completed (answered, failed or abandoned)."""
        self._in_flight -= 1
        self._completed.append(time.monotonic())
        self._changed.set()


@dataclass
class Usage:
    """What a run has spent so far."""

    permits: int = 0
    refused: int = 0


class Governor:
    """Hands out permits within rate, concurrency, ``max_requests`` and ``max_duration``."""

    def __init__(self, *, rate: float, concurrency: int, max_requests: int, max_duration: float) -> None:
        self.rate = RateLimiter(rate)
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.max_duration = max_duration
        self._slots = asyncio.Semaphore(concurrency)
        self._started = time.monotonic()
        self.usage = Usage()

    def restart_clock(self) -> None:
        """Start the duration budget now (a run calls this when probing begins)."""
        self._started = time.monotonic()

    @property
    def remaining_time(self) -> float:
        """Seconds left of ``max_duration`` (never negative)."""
        return max(0.0, self.max_duration - (time.monotonic() - self._started))

    @property
    def remaining_requests(self) -> int:
        """Permits left of ``max_requests``."""
        return self.max_requests - self.usage.permits

    def _check(self) -> None:
        if self.remaining_time <= 0:
            self.usage.refused += 1
            raise BudgetExhausted(TargetErrorKind.DEADLINE, f"max_duration of {self.max_duration:g}s is spent")
        if self.usage.permits >= self.max_requests:
            self.usage.refused += 1
            raise BudgetExhausted(TargetErrorKind.BUDGET, f"max_requests of {self.max_requests} is spent")

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of ``concurrency`` slots for the duration of an exchange."""
        async with self._slots:
            yield

    @contextlib.asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """Spend one request from the budget, within the rate, for the span of the block.

        Raises :class:`BudgetExhausted` (before anything is sent) when a budget is spent. The
        block is the exchange: it ends when the answer arrived or the attempt failed.
        """
        self._check()
        self.usage.permits += 1  # reserved before the wait: concurrent waiters cannot overshoot
        try:
            await self.rate.acquire()
        except BaseException:
            self.usage.permits -= 1
            self.usage.refused += 1
            raise
        try:
            if self.remaining_time <= 0:
                self.usage.permits -= 1
                self.usage.refused += 1
                raise BudgetExhausted(TargetErrorKind.DEADLINE, f"max_duration of {self.max_duration:g}s is spent")
            yield
        finally:
            self.rate.release()
