"""Render event rows as the JSON array the API serves.

Each row is zipped with :data:`schemas.EVENT_FIELDS`, so the keys come in the canonical order
and any extra trailing column (the page query's ``head_sequence``) is left out. orjson writes
``datetime`` values with their offset (``2017-10-02T10:56:33+00:00``; the pool's sessions run
in UTC), floats in their shortest form and ``text[]`` lists as arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from schemas import EVENT_FIELDS


def render_events(rows: Sequence[Sequence[object]]) -> bytes:
    """The rows as one JSON array of event objects (UTF-8 bytes)."""
    return orjson.dumps([dict(zip(EVENT_FIELDS, row, strict=False)) for row in rows])
