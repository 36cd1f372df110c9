"""Async client of the source API's ``GET /v1/order-events``, with its retry policy.

One :class:`httpx.AsyncClient` (keep-alive, explicit timeouts) is kept for the life of the
producer. Connection errors, timeouts, 5xx and 429 are :class:`~producer.errors.SourceUnavailable`
and are retried here, honouring ``Retry-After``; 401, 422 and other 4xx are terminal.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson

from producer.backoff import BackoffPolicy, RetriesExhausted, retry_async
from producer.errors import (
    SourceProtocolError,
    SourceRejected,
    SourceRetriesExhausted,
    SourceUnavailable,
    TransientError,
)

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/order-events"
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Page:
    """One answer of the API: events in ``source_sequence`` order and where to continue."""

    events: list[dict[str, Any]]
    next_cursor: str
    has_more: bool
    head_sequence: int


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        log.warning("ignoring unparseable Retry-After header value=%r", value)
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_page(body: bytes) -> Page:
    """Decode a page body, checking the fields the producer relies on."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise SourceProtocolError(
            f"the source API answered a body that is not JSON ({error}); "
            "check OLIST_API_URL points at the olist source API"
        ) from error
    if not isinstance(document, dict):
        raise SourceProtocolError(
            f"expected a JSON object from {EVENTS_PATH}, found {type(document).__name__}"
        )
    events = document.get("events")
    next_cursor = document.get("next_cursor")
    has_more = document.get("has_more")
    head_sequence = document.get("head_sequence")
    if (
        not isinstance(events, list)
        or not isinstance(next_cursor, str)
        or not isinstance(has_more, bool)
        or not isinstance(head_sequence, int)
    ):
        raise SourceProtocolError(
            "expected {events: list, next_cursor: str, has_more: bool, head_sequence: int} "
            f"from {EVENTS_PATH}, found keys {sorted(document)} with types "
            f"{[type(document.get(k)).__name__ for k in ('events', 'next_cursor', 'has_more', 'head_sequence')]}"  # noqa: E501
        )
    return Page(events, next_cursor, has_more, head_sequence)


class SourceClient:
    """Reads pages of order events from the source API.

    Use as an async context manager; :meth:`fetch_page` retries transient failures with
    ``policy`` and raises a :class:`~producer.errors.TerminalError` otherwise.
    """

    def __init__(
        self,
        base_url: str,
        policy: BackoffPolicy,
        api_key: str | None = None,
        timeout: float = 30.0,
        on_retry: Callable[[TransientError], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._on_retry = on_retry
        headers = {"Accept": "application/json"}
        if api_key:
            headers[API_KEY_HEADER] = api_key
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            transport=transport,
        )

    async def __aenter__(self) -> SourceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def fetch_page(
        self, after: str | None, limit: int, policy: BackoffPolicy | None = None
    ) -> Page:
        """At most ``limit`` events after cursor ``after`` (``None``: from the beginning)."""
        try:
            return await retry_async(
                lambda: self._fetch_once(after, limit),
                policy or self.policy,
                what=f"GET {self.base_url}{EVENTS_PATH}",
                on_retry=self._on_retry,
            )
        except RetriesExhausted as error:
            raise SourceRetriesExhausted(
                f"the source API at {self.base_url} stayed unavailable: {error}; check that it "
                "runs and that OLIST_API_URL is right"
            ) from error

    async def _fetch_once(self, after: str | None, limit: int) -> Page:
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        try:
            response = await self._client.get(EVENTS_PATH, params=params)
        except httpx.TransportError as error:
            raise SourceUnavailable(
                f"cannot reach {self.base_url}: {type(error).__name__}: {error}"
            ) from error
        status = response.status_code
        if status == 200:
            return parse_page(response.content)
        detail = response.text[:300]
        if status == 429 or status >= 500:
            raise SourceUnavailable(
                f"{EVENTS_PATH} answered {status}: {detail}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 401 or status == 403:
            raise SourceRejected(
                f"the source API refused the API key ({status}: {detail}); set OLIST_API_KEY "
                "to the key the API was started with"
            )
        raise SourceRejected(
            f"{EVENTS_PATH}?after={after}&limit={limit} answered {status}: {detail}; a 422 "
            "means the saved cursor or the page size is not valid for this API"
        )
