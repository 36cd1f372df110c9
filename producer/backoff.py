"""Exponential backoff with full jitter, bounded by elapsed time, honouring ``Retry-After``.

The source client retries through :func:`retry_async`; Pub/Sub publishes are retried by the
Pub/Sub client itself with the equivalent :class:`google.api_core.retry.Retry` built in
:mod:`producer.publisher` from the same :class:`BackoffPolicy`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from producer.errors import TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait between attempts and when to give up.

    ``initial_delay`` doubles (``multiplier``) per attempt up to ``max_delay``; each wait is
    drawn uniformly from ``[0, delay]`` (full jitter, so many producers restarting together do
    not retry in lock step). A server's ``Retry-After`` is a lower bound: the wait is at least
    it and at least half the attempt's delay, so ``Retry-After: 0`` or a date in the past never
    makes a zero-wait retry loop. Attempts stop once ``timeout`` seconds have passed since the
    first one.
    """

    initial_delay: float = 0.2
    max_delay: float = 5.0
    multiplier: float = 2.0
    timeout: float = 600.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        if retry_after is not None:
            return max(retry_after, ceiling / 2)
        return random.uniform(0.0, ceiling)


class RetriesExhausted(Exception):
    """Every attempt allowed by the policy failed; ``last_error`` is the final failure."""

    def __init__(self, what: str, attempts: int, elapsed: float, last_error: TransientError):
        super().__init__(
            f"{what} failed {attempts} times over {elapsed:.1f} s; last error: {last_error}"
        )
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_error = last_error


async def retry_async(
    operation: Callable[[], Awaitable[T]],
    policy: BackoffPolicy,
    what: str,
    on_retry: Callable[[TransientError], None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, retrying :class:`TransientError` per ``policy``.

    Any other exception propagates at once. When the time budget is spent the last transient
    error is wrapped in :class:`RetriesExhausted`. Each retry is logged once.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except TransientError as error:
            elapsed = time.monotonic() - started
            wait = policy.delay(attempt, error.retry_after)
            if elapsed + wait > policy.timeout:
                raise RetriesExhausted(what, attempt, elapsed, error) from error
            log.warning(
                "retrying what=%r attempt=%d wait_s=%.2f error=%r", what, attempt, wait, str(error)
            )
            if on_retry is not None:
                on_retry(error)
            await asyncio.sleep(wait)
