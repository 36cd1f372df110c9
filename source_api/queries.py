"""The SQL of the source API, and the function that reads one page of events with it.

Events are served from ``olist.order_event_feed``: every version of every order item, stored as
the JSON text the API sends, written by the commit that made the change (source_db/sql/
schema.sql, docs/design/source-feed.md). A page is a keyset range scan on the feed's primary
key (``source_sequence > $cursor ORDER BY source_sequence LIMIT $n``: O(page) at any depth,
never OFFSET) and its JSON texts are spliced into the answer without being parsed. The head
(``head_sequence``, ``has_more``) is the feed's, read in the same statement.

Why a reader never skips an event: versions draw their sequence numbers under one advisory
lock held until their commit is visible, so they commit in sequence order, and a page read in
one snapshot holds every committed version after the cursor; no version can appear later
below a sequence a reader has passed. A commit is served by the very next request.

The stale marks and the rendered tail below date from the feed that rendered events after
their commit; nothing writes marks any more and the tail never finds rows (the head is the
feed's), so both cost one index probe at most. They go once no API of the older schema runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# Each page statement answers at least one row: the head of the feed, LEFT JOINed with the
# page (null columns when it is empty), so head and events come from one snapshot and an
# empty page costs one round trip. The lateral subquery keeps its ORDER BY for the one outer row.
_HEAD = "SELECT coalesce(max(source_sequence), 0) AS head_sequence FROM olist.order_event_feed"

FEED_PAGE_SQL = f"""
SELECT head.head_sequence, page.source_sequence, page.event_json
FROM ({_HEAD}) AS head
LEFT JOIN LATERAL (
    SELECT feed.source_sequence, feed.event_json
    FROM olist.order_event_feed AS feed
    WHERE feed.source_sequence > $1
    ORDER BY feed.source_sequence
    LIMIT $2
) AS page ON true
"""
"""The head of the feed and at most ``$2`` events after ``$1``."""

STALE_SQL = """
SELECT array_agg(DISTINCT source_sequence) FROM olist.order_event_feed_stale
WHERE source_sequence > $1 AND source_sequence <= $2
"""
"""Events in ``($1, $2]`` whose source rows changed since the feed rendered them (an index
range probe; usually none)."""

STALE_EVENTS_SQL = """
SELECT source_sequence, event_json FROM olist.render_order_events_at($1::bigint[])
"""
"""The events ``$1``, rendered now."""

RENDERED_PAGE_SQL = f"""
SELECT head.head_sequence, page.source_sequence, page.event_json
FROM ({_HEAD}) AS head
LEFT JOIN LATERAL (
    SELECT rendered.source_sequence, rendered.event_json
    FROM olist.render_order_events($1, $2) AS rendered
) AS page ON true
"""
"""The head of the feed and at most ``$2`` events after ``$1`` from
``olist.render_order_events`` (the tail of a page beyond the feed's head; never any now)."""

READY_SQL = "SELECT 1"
"""Cheapest round trip proving the database answers."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of the feed."""

    events_json: bytes
    """The events as a JSON array (UTF-8), in ``source_sequence`` order."""
    event_count: int
    last_sequence: int | None
    """``source_sequence`` of the last event, ``None`` for an empty page."""
    head_sequence: int
    """Largest ``source_sequence`` in the feed when the page was read (0 when empty)."""

    @property
    def has_more(self) -> bool:
        """Whether events existed after this page when it was read (False when empty)."""
        return self.last_sequence is not None and self.head_sequence > self.last_sequence


async def fetch_event_page(
    database: asyncpg.Connection | asyncpg.Pool, after_sequence: int, limit: int
) -> EventPage:
    """Read up to ``limit`` events with ``source_sequence > after_sequence``."""
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as connection:
            return await _read_page(connection, after_sequence, limit)
    return await _read_page(database, after_sequence, limit)


async def _read_page(
    connection: asyncpg.Connection | PoolConnectionProxy, after_sequence: int, limit: int
) -> EventPage:
    # One read-only snapshot for the feed page, its stale marks and the rendered tail: the
    # page is then exactly the committed events as of one moment (3 extra round trips at
    # most, microseconds against the milliseconds of a full page).
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        rows = await connection.fetch(FEED_PAGE_SQL, after_sequence, limit)
        head_sequence = rows[0][0]
        sequences = [row[1] for row in rows if row[1] is not None]
        texts = [row[2] for row in rows if row[1] is not None]
        from_feed = len(sequences)
        end = sequences[-1] if sequences else after_sequence
        if sequences and (stale := await connection.fetchval(STALE_SQL, after_sequence, end)):
            # Changed after the feed rendered them and not rendered again yet: render them
            # now. An item deleted since is left out (the refresher drops it from the feed).
            rendered = await connection.fetch(STALE_EVENTS_SQL, stale)
            current: dict[int, str] = {sequence: text for sequence, text in rendered}
            marked = set(stale)
            kept = [
                (sequence, current[sequence] if sequence in marked else text)
                for sequence, text in zip(sequences, texts, strict=True)
                if sequence not in marked or sequence in current
            ]
            sequences = [sequence for sequence, _ in kept]
            texts = [text for _, text in kept]
        if from_feed < limit and head_sequence > end:
            # The feed has not caught up with these commits yet: render the rest now.
            tail = await connection.fetch(RENDERED_PAGE_SQL, end, limit - len(texts))
            if tail[-1][1] is not None:
                sequences.extend(row[1] for row in tail)
                texts.extend(row[2] for row in tail)
    last_sequence = sequences[-1] if sequences else None
    return EventPage(
        events_json=("[" + ",".join(texts) + "]").encode(),
        event_count=len(texts),
        last_sequence=last_sequence,
        head_sequence=head_sequence,
    )
