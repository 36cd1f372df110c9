"""The SQL of the source API, and the one function that runs the page query.

A page is read with one statement, so it sees one snapshot: the events strictly after the
cursor (a keyset range scan on the unique index of ``order_items.source_sequence``, O(page)
whatever the table size, never OFFSET) and the head of the feed in that same snapshot.

PostgreSQL renders each event as JSON itself (``row_to_json`` keeps the column order, writes
``timestamptz`` as ISO 8601 with the session's offset, ``numeric`` as a JSON number and ``text[]``
as an array) and returns the page as one UTF-8 ``bytea``; the API splices those bytes into the
response without decoding them. bench/api.py measures this against fetching typed rows.

Why a reader never skips a row: every writer of ``order_items`` takes one advisory lock
(source_api/sql/schema.sql) before its rows draw sequence numbers and keeps it until its commit
is visible, so sequence numbers become visible in increasing order. Whatever snapshot a page is
read from, no row with a sequence at or below the largest visible one can appear later.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from schemas import EVENT_FIELDS

_COLUMNS = ", ".join(EVENT_FIELDS)

PAGE_SQL = f"""
SELECT
    convert_to('[' || coalesce(string_agg(row_to_json(page)::text, ',' ORDER BY
        page.source_sequence), '') || ']', 'UTF8') AS events_json,
    count(*)::bigint AS event_count,
    max(page.source_sequence) AS last_sequence,
    (SELECT coalesce(max(source_sequence), 0) FROM olist.order_items) AS head_sequence
FROM (
    SELECT {_COLUMNS}
    FROM olist.order_events
    WHERE source_sequence > $1
    ORDER BY source_sequence
    LIMIT $2
) AS page
"""
"""Events after ``$1`` (at most ``$2``) as one JSON array, their count, last sequence, head.

``head_sequence`` is read from ``order_items``: the view inner-joins tables that every item
references through NOT NULL foreign keys, so both hold the same sequences and the index gives
the maximum in one probe.
"""

READY_SQL = "SELECT 1"
"""Cheapest round trip proving the database answers."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of the feed, as read in one snapshot."""

    events_json: bytes
    """The events as a JSON array (UTF-8), in ``source_sequence`` order."""
    event_count: int
    last_sequence: int | None
    """``source_sequence`` of the last event, ``None`` for an empty page."""
    head_sequence: int
    """Largest ``source_sequence`` in the source at read time, 0 when it is empty."""


async def fetch_event_page(
    connection: asyncpg.Connection | asyncpg.Pool, after_sequence: int, limit: int
) -> EventPage:
    """Read up to ``limit`` events with ``source_sequence > after_sequence``."""
    row = await connection.fetchrow(PAGE_SQL, after_sequence, limit)
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return EventPage(
        events_json=row["events_json"],
        event_count=row["event_count"],
        last_sequence=row["last_sequence"],
        head_sequence=row["head_sequence"],
    )
