"""The SQL of the source API, and the function that reads one page of events with it.

Events are served from ``olist.order_event_feed``, where each one is stored as the JSON text the
API sends, rendered once by ``olist.refresh_order_event_feed`` (source_db/sql/schema.sql, kept
caught up by :mod:`source_api.feed_refresher`). A page is a keyset range scan on the feed's
primary key (``source_sequence > $cursor ORDER BY source_sequence LIMIT $n``: O(page) at any
depth, never OFFSET) and its JSON texts are spliced into the answer without being parsed.

The feed trails the committed items by up to one refresh interval. When a page comes back
short although ``order_items`` holds events after it, the rest of the page is rendered on the
spot from the view (``olist.render_order_events``, same rendering), so a commit is served by
the very next request, as when the API read the view directly.

Events whose source rows changed after they were rendered are marked stale by triggers and
rendered again by the next refresh; a page that meets such a mark renders the event on the
spot, so a reader sees the rows as they are when it reads.

A page's statements (feed range, stale marks in that range, rendered tail) run in one
read-only REPEATABLE READ transaction, so they all see one snapshot.

Why a reader never skips an event: writers of ``order_items`` commit in sequence order (one
advisory lock, source_db/sql/schema.sql), and the feed is always a sequence-ordered prefix of
the committed items (the refresher appends everything visible above its head, under its own
lock). In one snapshot, a short feed page therefore holds every feed row after the cursor, any
committed item below the feed's head is in the feed, and the tail renders every committed item
after the page's last sequence. Items commit in order, so no row can appear later below a
sequence a reader has passed.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# Each page statement answers at least one row: the head of order_items, LEFT JOINed with the
# page (null columns when it is empty), so head and events come from one snapshot and an
# empty page costs one round trip. The lateral subquery keeps its ORDER BY for the one outer row.
_HEAD = "SELECT coalesce(max(source_sequence), 0) AS head_sequence FROM olist.order_items"

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
"""The head of ``order_items`` and at most ``$2`` pre-rendered events after ``$1``."""

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
"""The head of ``order_items`` and at most ``$2`` events after ``$1`` rendered now (the tail
of a page beyond the feed's head)."""

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
    """Largest ``source_sequence`` in ``order_items`` when the page was read (0 when empty)."""

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
