"""Read-ahead: fetch the page a sequential reader will ask for next while it handles this one.

A feed consumer asks for page *n + 1* right after page *n*, with ``after`` = page *n*'s last
sequence and the same ``limit``. Serving page *n* therefore schedules that query on another
pool connection, so the database works on the next page while the API renders and sends this
one and the client parses it: the two processes overlap instead of taking turns.

A read-ahead page is served only if it is *full* (``limit`` events) and had events after it:
such a page holds every event in its sequence range, and no event can later appear inside that
range (writers commit in sequence order, see :mod:`source_api.queries`), so it equals what a
fresh query returns; only its ``head_sequence`` is from a moment earlier. Anything else (a
short page near the head, an error) is dropped and the request reads fresh, so a reader at the
head sees a commit on its very next request.

Bounded: at most ``max_pages`` pages are pending (the oldest is cancelled beyond that) and a page
unclaimed for ``ttl`` seconds is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from source_api.queries import EventPage

log = logging.getLogger(__name__)

PageFetcher = Callable[[int, int], Coroutine[Any, Any, EventPage]]
"""``fetch(after_sequence, limit)``: a coroutine function, as the read-ahead runs it as a task."""


@dataclass
class _Pending:
    task: asyncio.Task[EventPage]
    created: float


class ReadAhead:
    """Serves pages, reading the probable next page in the background.

    ``fetch(after_sequence, limit)`` reads one page; ``outcomes`` counts ``hit`` (served from
    read-ahead), ``miss`` (no read-ahead for that page), ``discarded`` (read-ahead not
    servable) and ``failed`` (read-ahead raised; the request then read fresh).
    """

    def __init__(
        self, fetch: PageFetcher, outcomes: Counter, max_pages: int = 2, ttl: float = 10.0
    ) -> None:
        self._fetch = fetch
        self._outcomes = outcomes
        self._max_pages = max_pages
        self._ttl = ttl
        self._pending: OrderedDict[tuple[int, int], _Pending] = OrderedDict()

    async def page(self, after_sequence: int, limit: int) -> EventPage:
        """The page after ``after_sequence``; schedules the one after it when worthwhile."""
        page = await self._claim(after_sequence, limit)
        if page is None:
            page = await self._fetch(after_sequence, limit)
        if self._max_pages > 0 and page.event_count == limit and page.has_more:
            assert page.last_sequence is not None
            self._schedule(page.last_sequence, limit)
        return page

    async def _claim(self, after_sequence: int, limit: int) -> EventPage | None:
        pending = self._pending.pop((after_sequence, limit), None)
        if pending is None:
            self._outcomes.labels("miss").inc()
            return None
        try:
            page = await pending.task
        except asyncio.CancelledError:
            this_request = asyncio.current_task()
            assert this_request is not None  # a request handler runs in a task
            if this_request.cancelling():
                raise  # this request is being cancelled, not only the read-ahead
            self._outcomes.labels("discarded").inc()
            return None
        except Exception as error:
            # The fresh read that follows raises the same error if it persists.
            log.warning(
                "read-ahead failed after_sequence=%d limit=%d error=%r", after_sequence, limit,
                error,
            )  # fmt: skip
            self._outcomes.labels("failed").inc()
            return None
        if page.event_count == limit and page.has_more:
            self._outcomes.labels("hit").inc()
            return page
        self._outcomes.labels("discarded").inc()
        return None

    def _schedule(self, after_sequence: int, limit: int) -> None:
        key = (after_sequence, limit)
        now = time.monotonic()
        for stale_key in [k for k, p in self._pending.items() if now - p.created > self._ttl]:
            self._drop(stale_key)
        if key in self._pending:
            return
        while len(self._pending) >= self._max_pages:
            self._drop(next(iter(self._pending)))
        task = asyncio.create_task(self._fetch(after_sequence, limit))
        task.add_done_callback(_retrieve_exception)
        self._pending[key] = _Pending(task, now)

    def _drop(self, key: tuple[int, int]) -> None:
        pending = self._pending.pop(key)
        pending.task.cancel()
        self._outcomes.labels("discarded").inc()

    async def close(self) -> None:
        """Cancel every pending read-ahead and wait for them (before the pool closes)."""
        pending, self._pending = list(self._pending.values()), OrderedDict()
        for item in pending:
            item.task.cancel()
        await asyncio.gather(*(item.task for item in pending), return_exceptions=True)


def _retrieve_exception(task: asyncio.Task[EventPage]) -> None:
    # A read-ahead nobody claims must not end as "Task exception was never retrieved"; the
    # failure is logged when a request claims it, and dropped pages are counted.
    if not task.cancelled() and task.exception() is not None:
        log.debug("read-ahead ended with error=%r", task.exception())
