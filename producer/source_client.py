"""Async client of the source API's ``GET /v1/order-events``, with its retry policy.

One :class:`~producer.source_connection.SourceConnection` (keep-alive, explicit timeouts) is
kept for the life of the producer. A page is decoded with msgspec into its envelope fields and
the raw JSON of each event (a ``msgspec.Raw`` slice of the body, not parsed): validation reads
the events from those bytes and publishes them unchanged.

Connection errors, timeouts, 5xx and 429 are :class:`~producer.errors.SourceUnavailable` and are
retried here, honouring ``Retry-After``; 401, 422 and other 4xx are terminal.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn

import msgspec
import orjson

from producer.backoff import BackoffPolicy, RetriesExhausted, retry_async
from producer.errors import (
    SourceProtocolError,
    SourceRejected,
    SourceRetriesExhausted,
    SourceUnavailable,
    TransientError,
)
from producer.source_connection import DEFAULT_MAX_BODY_BYTES, SourceConnection

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/order-events"
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Page:
    """One answer of the API: events in ``source_sequence`` order and where to continue.

    ``events`` holds the JSON text of each event exactly as the API sent it (without a
    newline: see :func:`parse_page`).
    """

    events: list[msgspec.Raw]
    next_cursor: str
    has_more: bool
    head_sequence: int


class _PageDocument(msgspec.Struct):
    """The page contract; unknown keys are ignored, as they always were."""

    events: list[msgspec.Raw]
    next_cursor: str
    has_more: bool
    head_sequence: int


_decode_page = msgspec.json.Decoder(_PageDocument).decode


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
    """Decode a page body, checking the fields the producer relies on.

    The events are published as JSON Lines, one per line; JSON allows a raw newline only as
    whitespace between tokens (never inside a string), so an event holding one gets a space
    in its place and keeps its meaning.
    """
    try:
        document = _decode_page(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        _raise_protocol_error(body, error)
    events = document.events
    if b"\n" in body:
        events = [
            msgspec.Raw(text.replace(b"\n", b" ")) if b"\n" in text else event
            for event in events
            for text in (bytes(event),)
        ]
    return Page(events, document.next_cursor, document.has_more, document.head_sequence)


def _raise_protocol_error(body: bytes, error: Exception) -> NoReturn:
    """Explain why ``body`` is not a page; the wording names what was found."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as not_json:
        raise SourceProtocolError(
            f"the source API answered a body that is not JSON ({not_json}); "
            "check OLIST_API_URL points at the olist source API"
        ) from error
    if not isinstance(document, dict):
        raise SourceProtocolError(
            f"expected a JSON object from {EVENTS_PATH}, found {type(document).__name__}"
        ) from error
    fields = ("events", "next_cursor", "has_more", "head_sequence")
    raise SourceProtocolError(
        "expected {events: list, next_cursor: str, has_more: bool, head_sequence: int} "
        f"from {EVENTS_PATH} ({error}), found keys {sorted(document)} with types "
        f"{[type(document.get(key)).__name__ for key in fields]}"
    ) from error


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
        max_response_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._on_retry = on_retry
        headers = {"Accept": "application/json"}
        if api_key:
            headers[API_KEY_HEADER] = api_key
        self._connection = SourceConnection(
            self.base_url,
            headers,
            timeout=timeout,
            connect_timeout=min(timeout, 5.0),
            max_body_bytes=max_response_bytes,
        )

    async def __aenter__(self) -> SourceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._connection.aclose()

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
        response = await self._connection.get(EVENTS_PATH, params)
        status = response.status
        if status == 200:
            return parse_page(response.body)
        detail = response.text[:300]
        if status == 429 or status >= 500:
            raise SourceUnavailable(
                f"{EVENTS_PATH} answered {status}: {detail}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
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
