"""/v1/order-events: the order-item event feed, read page by page with an opaque cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from source_api.cursor import START_CURSOR, decode_cursor, encode_cursor
from source_api.deps import ApiKeyDep, MetricsDep, ReadAheadDep, SettingsDep
from source_api.errors import InvalidLimit
from source_api.models import ErrorBody, OrderEventPage
from source_api.pool import database_errors

LIMIT_CEILING = 5000
"""Largest page any deployment serves (OLIST_API_MAX_LIMIT may lower it, never raise it)."""

ACCEPTED_PARAMETERS = {
    "after": "the next_cursor of a previous response, unchanged; omit it to start at the beginning",
    "limit": f"an integer from 1 to {LIMIT_CEILING}; omit it for the server default",
}
"""What each query parameter accepts, quoted by the 422 answer when FastAPI rejects one."""

router = APIRouter(prefix="/v1", tags=["events"], dependencies=[ApiKeyDep])


@router.get(
    "/order-events",
    response_model=OrderEventPage,
    responses={
        401: {"model": ErrorBody, "description": "API key missing or wrong."},
        422: {"model": ErrorBody, "description": "Bad cursor or limit."},
        503: {
            "model": ErrorBody,
            "description": "The database does not answer (retry), or has no Olist schema.",
        },
    },
)
async def list_order_events(
    read_ahead: ReadAheadDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    after: Annotated[
        str | None,
        Query(description="next_cursor of the previous page; omit to start at the beginning."),
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=LIMIT_CEILING, description="Events per page, 1..5000 (default 1000)."),
    ] = None,
) -> Response:
    """Events in source_sequence order strictly after the cursor, at most ``limit`` of them."""
    after_sequence = 0 if after is None else decode_cursor(after)
    page_size = settings.api_default_limit if limit is None else limit
    if page_size > settings.api_max_limit:
        raise InvalidLimit(
            f"limit {page_size} is above this server's maximum; accepted: an integer from 1 "
            f"to {settings.api_max_limit} (OLIST_API_MAX_LIMIT)"
        )
    with database_errors("reading order events"):
        page = await read_ahead.page(after_sequence, page_size)
    if page.last_sequence is None:
        next_cursor = START_CURSOR if after is None else after
    else:
        next_cursor = encode_cursor(page.last_sequence)
    metrics.events_served.inc(page.event_count)
    # Splice the rendered event array instead of building a response model around it: the
    # events are already JSON, and every other part below is JSON-safe by construction.
    body = b"".join((
        b'{"events":', page.events_json,
        b',"next_cursor":"', next_cursor.encode("ascii"),
        b'","has_more":', b"true" if page.has_more else b"false",
        b',"head_sequence":', str(page.head_sequence).encode("ascii"), b"}",
    ))  # fmt: skip
    return Response(body, media_type="application/json")
