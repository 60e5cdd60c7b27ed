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

# Arrival times at the target jitter by a few milliseconds against our send times; the window
# is widened by this much so that no one-second window *as seen by the target* exceeds the rate.
RATE_GUARD_SECONDS = 0.05


class RateLimiter:
    """At most ``rate`` permits in any one-second window (fractional rates: one per 1/rate s).

    A sliding log of the last k permit times: permit k+1 waits until the oldest of them is one
    window old. Waiters are served in arrival order.
    """

    def __init__(self, rate: float, guard: float = RATE_GUARD_SECONDS) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, math.floor(rate))
        self.window = (1.0 if rate >= 1 else 1.0 / rate) + guard
        self._log: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more permit keeps every window within the rate."""
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._log and now - self._log[0] >= self.window:
                    self._log.popleft()
                if len(self._log) < self.capacity:
                    self._log.append(now)
                    return
                await asyncio.sleep(self._log[0] + self.window - now)


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

    async def permit(self) -> None:
        """Spend one request from the budget, after waiting for the rate. Raises when spent."""
        self._check()
        self.usage.permits += 1  # reserved before the wait: concurrent waiters cannot overshoot
        try:
            await self.rate.acquire()
            if self.remaining_time <= 0:
                raise BudgetExhausted(TargetErrorKind.DEADLINE, f"max_duration of {self.max_duration:g}s is spent")
        except BaseException:
            self.usage.permits -= 1
            self.usage.refused += 1
            raise
