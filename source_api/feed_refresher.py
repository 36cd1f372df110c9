"""Keep the pre-rendered event feed caught up with the committed order items, in the API process.

Since every commit writes its own versions into the feed (docs/design/source-feed.md), the SQL
function it calls answers 0 and this task has nothing left to do; it stays until every
database runs that schema, and can then be removed with its settings and metrics.

:class:`FeedRefresher` is a background asyncio task started and stopped by the app's lifespan.
It calls ``olist.refresh_order_event_feed(rows)`` in a loop on a connection of its own (outside
the request pool, so it never competes with pages for a connection): again at once while a
call filled ``rows`` (catching up), otherwise after ``interval`` seconds. A committed
order is therefore in the feed within about one interval; until then the page reader renders
it on the spot (:mod:`source_api.queries`), so no reader waits for the refresher.

Several API processes on one database each run a refresher: the SQL function serialises them
on an advisory lock, and the ones that come second find nothing new to append. A failed
refresh is logged and counted, its connection is closed, and it is retried on a new connection
after a backoff (doubling from ``interval``, at most :data:`MAX_BACKOFF` seconds); pages stay
correct meanwhile, only slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from source_api.metrics import ApiMetrics
from source_api.pool import UNAVAILABLE_ERRORS
from source_db.feed import REFRESH_SQL

log = logging.getLogger(__name__)

LAG_SQL = """
SELECT greatest(0, (SELECT coalesce(max(source_sequence), 0) FROM olist.order_items)
                 - (SELECT coalesce(max(source_sequence), 0) FROM olist.order_event_feed))
"""
"""Sequence distance from the feed's head to the items' head (two index probes); 0 since the
commits write the feed themselves (docs/design/source-feed.md)."""

MAX_BACKOFF = 5.0
"""Longest pause, in seconds, between two failed refreshes."""

CLOSE_TIMEOUT = 5.0
"""Seconds ``stop()`` waits for the connection to close before terminating it."""

_CLOSE_FAILED: tuple[type[BaseException], ...] = (TimeoutError, *UNAVAILABLE_ERRORS)

# The schema predates the feed (or is missing): 'olist db init' fixes it, so keep retrying.
_NOT_INITIALISED = (
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedFunctionError,
    asyncpg.InvalidSchemaNameError,
)


class FeedRefresher:
    """Background task appending new events to ``olist.order_event_feed``.

    ``rows`` events are rendered per call (one transaction); ``interval`` is the pause, in
    seconds, once a call found fewer than ``rows`` new events.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        metrics: ApiMetrics,
        *,
        rows: int,
        interval: float,
    ) -> None:
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self._connect = connect
        self._metrics = metrics
        self._rows = rows
        self._interval = interval
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the refresh loop on the running event loop."""
        if self._task is not None:
            raise RuntimeError("the feed refresher is already running; stop() it first")
        self._task = asyncio.create_task(self._run(), name="olist-feed-refresher")

    async def stop(self) -> None:
        """Cancel the loop (a refresh in flight is rolled back) and wait until it has ended."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT)
            except _CLOSE_FAILED as error:
                log.warning("feed refresher connection close failed error=%r", error)
                connection.terminate()
        log.info("feed refresher stopped")

    async def refresh_once(self) -> int:
        """One refresh call; returns how many events it appended, and updates the metrics."""
        if self._connection is None:
            self._connection = await self._connect()
        started = time.perf_counter()
        appended: int = await self._connection.fetchval(REFRESH_SQL, self._rows)
        self._metrics.feed_refresh_duration.observe(time.perf_counter() - started)
        self._metrics.feed_events_refreshed.inc(appended)
        self._metrics.feed_lag.set(await self._connection.fetchval(LAG_SQL))
        return appended

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # terminate(), not close(): after a failure the connection may be broken, and a
            # rolled-back refresh loses nothing (the next one appends the same range).
            connection.terminate()

    async def _run(self) -> None:
        log.info("feed refresher started rows=%d interval_s=%s", self._rows, self._interval)
        failures = 0
        while True:
            try:
                appended = await self.refresh_once()
            except UNAVAILABLE_ERRORS as error:
                failures += 1
                self._failed("database_unavailable", failures, error)
            except _NOT_INITIALISED as error:
                failures += 1
                self._failed("database_not_initialised", failures, error)
            except Exception:
                # Not swallowed: logged with its traceback, counted, and retried, because the
                # pages stay correct without the feed (only slower) and the loop must not die.
                failures += 1
                log.exception("feed refresh failed reason=unexpected attempt=%d", failures)
                self._metrics.feed_refresh_errors.labels("unexpected").inc()
            else:
                if failures:
                    log.info("feed refresh recovered after_failures=%d", failures)
                failures = 0
                if appended >= self._rows:
                    continue  # catching up: the next batch is already waiting
            if failures:
                self._disconnect()
                await asyncio.sleep(min(self._interval * 2 ** min(failures, 16), MAX_BACKOFF))
            else:
                await asyncio.sleep(self._interval)

    def _failed(self, reason: str, attempt: int, error: BaseException) -> None:
        hint = " run 'olist db init'" if reason == "database_not_initialised" else ""
        log.warning(
            "feed refresh failed reason=%s attempt=%d error=%r%s", reason, attempt, error, hint
        )
        self._metrics.feed_refresh_errors.labels(reason).inc()
