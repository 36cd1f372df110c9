"""Token bucket limiting how many events per second the producer publishes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up (default: one second's worth).

    :meth:`acquire` may take more tokens than the bucket holds: the balance goes negative and
    the caller sleeps until it is paid back, so a page of many events is allowed through at
    once and the long-run rate is still exactly ``rate``.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, found {rate}")
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, tokens: float) -> None:
        """Take ``tokens``, sleeping as long as needed to respect the rate."""
        async with self._lock:
            self._refill()
            self._tokens -= tokens
            if self._tokens < 0:
                await self._sleep(-self._tokens / self.rate)
