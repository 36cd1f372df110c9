"""The simulator's clock: São Paulo wall-clock time running ``days_per_minute`` days per minute.

The simulated time starts at a given instant and advances with the monotonic clock (which
can be injected, for tests) multiplied by the compression factor: at 1 day per minute, a
real minute moves every order one simulated day along its life cycle.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from source_db.synthetic.values import US_PER_DAY

SECONDS_PER_MINUTE = 60.0


class SimulatedClock:
    """Simulated São Paulo wall-clock microseconds, ``days_per_minute`` days per real minute."""

    def __init__(
        self,
        start_us: int,
        days_per_minute: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (days_per_minute > 0 and math.isfinite(days_per_minute)):
            raise ValueError(f"expected days_per_minute > 0, got {days_per_minute}")
        self.start_us = start_us
        self.speed = days_per_minute * US_PER_DAY / SECONDS_PER_MINUTE
        """Simulated microseconds per real second."""
        self._monotonic = monotonic
        self._started = monotonic()

    def now_us(self) -> int:
        """The simulated time now (São Paulo wall-clock microseconds since the epoch)."""
        return self.start_us + int((self._monotonic() - self._started) * self.speed)


__all__ = ["SimulatedClock"]
