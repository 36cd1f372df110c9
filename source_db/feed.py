"""Bring ``olist.order_event_feed`` up to date with the committed order items, in chunks.

The feed holds every event pre-rendered as JSON (source_db/sql/schema.sql,
docs/design/source-feed.md). Bulk writers (the generator, the CSV loader) call
:func:`refresh_feed` when they finish, so a freshly filled database is served at full speed at
once instead of waiting for the API's background refresher to catch up. That refresher
(:mod:`source_api.feed_refresher`) runs the same :data:`REFRESH_SQL`, in small batches.
"""

from __future__ import annotations

import logging
import time

import asyncpg

log = logging.getLogger(__name__)

REFRESH_SQL = "SELECT olist.refresh_order_event_feed($1)"
"""Append at most ``$1`` events to the feed; answers how many were appended."""

BULK_CHUNK_ROWS = 100_000
"""Events appended per transaction by :func:`refresh_feed`: large enough to amortise the
round trip, small enough that an interrupted refresh keeps most of its work."""


async def refresh_feed(connection: asyncpg.Connection, chunk_rows: int = BULK_CHUNK_ROWS) -> int:
    """Append every committed event the feed lacks, ``chunk_rows`` per transaction.

    Must run outside a transaction block: each call of the SQL function commits on its own,
    so concurrent refreshers (API replicas) wait at most for one chunk. Returns how many events
    were appended.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    started = time.monotonic()
    total = 0
    while True:
        appended: int = await connection.fetchval(REFRESH_SQL, chunk_rows)
        total += appended
        if appended < chunk_rows:
            break
    log.info("event feed refreshed events=%d seconds=%.1f", total, time.monotonic() - started)
    return total
