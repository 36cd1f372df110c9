"""The SQL of the source API, and the functions that run it.

A page is one statement, so it sees one snapshot: the events strictly after the cursor (a keyset
range scan on the unique index of ``order_items.source_sequence``, O(page) whatever the table
size, never OFFSET) and, in an extra column, the head of the feed in that same snapshot.

Why a reader never skips a row: every writer of ``order_items`` takes one advisory lock
(source_api/sql/schema.sql) before its rows draw sequence numbers and keeps it until its commit
is visible, so sequence numbers become visible in increasing order. Whatever snapshot a page is
read from, no row with a sequence at or below the largest visible one can appear later.

Rows come back typed (asyncpg's binary protocol) and are rendered to JSON by
:mod:`source_api.rendering` in the API process. bench/api.py measured the alternative of
letting PostgreSQL render JSON (``row_to_json``): it costs the database backend about 40% more
CPU per event, and the backend is the one resource a sequential reader cannot spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from schemas import EVENT_FIELDS
from schemas.derive import field_specs
from source_api.rendering import render_events

# Money is numeric(12, 2): float8 holds every such value exactly enough that its shortest
# repr is the decimal (58.90 -> 58.9), and floats serialise without a Python callback.
_MONEY = {spec.name for spec in field_specs() if spec.type == "decimal"}
_COLUMNS = ", ".join(
    f"{name}::float8 AS {name}" if name in _MONEY else name for name in EVENT_FIELDS
)

PAGE_SQL = f"""
SELECT {_COLUMNS},
       (SELECT coalesce(max(source_sequence), 0) FROM olist.order_items) AS head_sequence
FROM olist.order_events
WHERE source_sequence > $1
ORDER BY source_sequence
LIMIT $2
"""
"""At most ``$2`` events after ``$1``, each row ending with the head of the feed.

``head_sequence`` is read from ``order_items``: the view inner-joins tables that every item
references through NOT NULL foreign keys, so both hold the same sequences, and the index gives
the maximum in one probe (an init plan: computed once per statement, not per row).
"""

HEAD_SQL = "SELECT coalesce(max(source_sequence), 0) FROM olist.order_items"
"""The head of the feed, for pages that came back empty."""

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

    @property
    def has_more(self) -> bool:
        """Whether events existed after this page when it was read (False when empty)."""
        return self.last_sequence is not None and self.head_sequence > self.last_sequence


async def fetch_event_page(
    connection: asyncpg.Connection | asyncpg.Pool, after_sequence: int, limit: int
) -> EventPage:
    """Read up to ``limit`` events with ``source_sequence > after_sequence``."""
    rows = await connection.fetch(PAGE_SQL, after_sequence, limit)
    if not rows:
        head = await connection.fetchval(HEAD_SQL)
        return EventPage(b"[]", 0, None, head)
    return EventPage(
        events_json=render_events(rows),
        event_count=len(rows),
        last_sequence=rows[-1]["source_sequence"],
        head_sequence=rows[0]["head_sequence"],
    )
