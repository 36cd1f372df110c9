"""One keep-alive HTTP/1.1 connection for the producer's GET requests to the source API.

It exists for speed alone, in place of ``httpx.AsyncClient``. The producer asks for one page
at a time, ~2.6 MB each. Through httpx a page crosses half a dozen layers of async iterators
in 64 KB chunks, with socket reads paused and resumed around each. Here an
:class:`asyncio.Protocol` feeds whatever the socket delivers straight to ``httptools``
(llhttp, the parser uvicorn uses), which handles the framing (Content-Length or chunked) and
hands over body pieces that are joined once. ``bench.producer`` measures both clients on the
same pages (``bench.httpx_source`` is the httpx one); the figures, and what they say about
keeping this module, are in docs/design/producer.md#measurements.

It does only what the producer needs: ``GET`` with fixed headers, ``http://`` or
``https://`` (certificates verified), one request at a time, the connection reused while the
server keeps it open and reopened when it closed it. Proxies are not supported. Every failure
to connect, send or read a whole answer raises :class:`~producer.errors.SourceUnavailable`
(transient: the caller's retry policy applies); a response is returned whatever its status.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from functools import partial
from typing import cast
from urllib.parse import urlencode, urlsplit

import httptools

from producer.errors import ConfigurationError, ResponseTooLarge, SourceUnavailable

log = logging.getLogger(__name__)

USER_AGENT = "olist-producer"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class HttpResponse:
    """A complete answer; header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _ResponseReader(asyncio.Protocol):
    """Parses the answers arriving on one connection; runs in the event loop's callbacks."""

    def __init__(self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.max_body_bytes = max_body_bytes
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.requests = 0
        self.received = False
        """Whether any byte of the answer to the current request arrived."""
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_bytes = 0

    def expect_response(self, waiter: asyncio.Future[HttpResponse]) -> None:
        self._waiter = waiter
        self.received = False
        self.requests += 1

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, from loop.create_connection(); not checked with isinstance, as
        # uvloop's TCPTransport does not subclass asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(f"the answer is not HTTP/1.1 ({error})")
            self.close()

    def eof_received(self) -> bool | None:
        self._fail("the server closed the connection before the end of the answer")
        return None  # let the transport close itself

    def connection_lost(self, error: Exception | None) -> None:
        self.closed = True
        detail = f": {type(error).__name__}: {error}" if error else ""
        self._fail(f"the connection was lost before the end of the answer{detail}")

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []
        self._body_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.max_body_bytes:
            # Refused as it arrives: the body is never held whole.
            self._body = []
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(
                    ResponseTooLarge(
                        f"the source API's answer is over {self.max_body_bytes} bytes "
                        "(OLIST_API_MAX_RESPONSE_BYTES); lower OLIST_API_PAGE_SIZE or raise "
                        "the limit, and check OLIST_API_URL points at the olist source API"
                    )
                )
            self._waiter = None
            self.close()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = HttpResponse(self._parser.get_status_code(), self._headers, b"".join(self._body))
        self._body = []
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(response)
        self._waiter = None
        if not self._parser.should_keep_alive():
            self.close()

    def _fail(self, reason: str) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(SourceUnavailable(reason))
        self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class SourceConnection:
    """GET requests to ``base_url`` over one reused connection (open it lazily, close it once).

    ``timeout`` bounds a whole request (connect, send, read the full answer); connecting alone
    is bounded by ``connect_timeout``.
    """

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        connect_timeout: float,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"expected an http:// or https:// URL with a host, found {base_url!r}"
            )
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        authority = self.host if default_port else f"{self.host}:{self.port}"
        if ":" in self.host:  # an IPv6 literal
            authority = f"[{self.host}]" if default_port else f"[{self.host}]:{self.port}"
        header_lines = {
            "Host": authority,
            "User-Agent": USER_AGENT,
            # Without it a server may compress (RFC 9110 §12.5.3): pages are read as they are.
            "Accept-Encoding": "identity",
            **headers,
        }
        for name, value in header_lines.items():
            if any(character in f"{name}{value}" for character in "\r\n"):
                raise ConfigurationError(f"HTTP header {name} holds a line break: remove it")
        self._header_block = "".join(
            f"{name}: {value}\r\n" for name, value in header_lines.items()
        ).encode("latin-1")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._reader: _ResponseReader | None = None
        self._lock = asyncio.Lock()

    async def get(self, path: str, params: dict[str, str | int]) -> HttpResponse:
        """``GET path?params``; raises :class:`SourceUnavailable` when no full answer came."""
        target = f"{self._prefix}{path}?{urlencode(params)}" if params else self._prefix + path
        request = f"GET {target} HTTP/1.1\r\n".encode("latin-1") + self._header_block + b"\r\n"
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    reader = await self._connection()
                    try:
                        return await self._exchange(reader, request)
                    except SourceUnavailable:
                        if reader.requests == 1 or reader.received:
                            raise
                        # A kept-alive connection the server closed as the request went out
                        # (idle timeout): nothing was answered and a GET is idempotent, so
                        # send it once more on a fresh connection.
                        log.debug("source connection closed by the server; reconnecting")
                        self._discard()
                        return await self._exchange(await self._connection(), request)
            except TimeoutError as error:
                self._discard()
                raise SourceUnavailable(
                    f"no complete answer from {self.host}:{self.port} within {self.timeout} s"
                ) from error
            except (SourceUnavailable, ResponseTooLarge, asyncio.CancelledError):
                # Cancelled mid-request, the answer could still arrive and be taken for the
                # next request's: the connection is never reused.
                self._discard()
                raise

    @staticmethod
    async def _exchange(reader: _ResponseReader, request: bytes) -> HttpResponse:
        waiter: asyncio.Future[HttpResponse] = asyncio.get_running_loop().create_future()
        reader.expect_response(waiter)
        assert reader.transport is not None
        reader.transport.write(request)
        return await waiter

    async def _connection(self) -> _ResponseReader:
        if self._reader is not None and not self._reader.closed:
            return self._reader
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, reader = await loop.create_connection(
                    partial(_ResponseReader, self.max_body_bytes),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except (OSError, TimeoutError) as error:
            raise SourceUnavailable(
                f"cannot connect to {self.host}:{self.port}: {type(error).__name__}: {error}"
            ) from error
        log.debug("source connection opened host=%s port=%d", self.host, self.port)
        self._reader = reader
        return reader

    def _discard(self) -> None:
        # After a failure the connection's state is unknown: never reuse it.
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def aclose(self) -> None:
        self._discard()
