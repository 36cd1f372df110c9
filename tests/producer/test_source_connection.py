"""The producer's HTTP/1.1 connection against a real socket server scripted byte by byte."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest

from harness.processes import free_port
from producer.errors import ConfigurationError, SourceUnavailable
from producer.source_connection import SourceConnection

Answer = tuple[bytes, bool]
"""Bytes to send back, and whether to close the connection after them."""


class RawServer:
    """A TCP server that reads each request head and answers what ``script`` returns.

    ``script(connection_number, request_head)`` is called per request; ``requests`` and
    ``connections`` record what the client did.
    """

    def __init__(self, script: Callable[[int, bytes], Answer | None]) -> None:
        self.requests: list[bytes] = []
        self.connections = 0
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.connections += 1
                number = server.connections
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    server.requests.append(head)
                    answer = script(number, head)
                    if answer is None:  # never answer: hold the connection open
                        threading.Event().wait(5)
                        return
                    data, close = answer
                    self.request.sendall(data)
                    if close:
                        self.request.shutdown(socket.SHUT_RDWR)
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(script: Callable[[int, bytes], Answer | None]) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def ok(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in headers)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), head.encode(), body)


def connection(url: str, timeout: float = 5.0) -> SourceConnection:
    return SourceConnection(url, {"X-API-Key": "k"}, timeout=timeout, connect_timeout=2.0)


async def test_one_connection_serves_every_request_while_the_server_keeps_it(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(lambda number, head: (ok(b"page %d" % number), False))
    client = connection(server.url + "/base/")

    bodies = [(await client.get("/v1/order-events", {"limit": 5, "after": "a b"})).body
              for _ in range(3)]  # fmt: skip
    await client.aclose()

    assert bodies == [b"page 1"] * 3
    assert server.connections == 1
    request_line, *header_lines = server.requests[0].decode().split("\r\n")
    assert request_line == "GET /base/v1/order-events?limit=5&after=a+b HTTP/1.1"
    port = server.url.rsplit(":", 1)[1]
    assert set(header_lines) == {
        f"Host: 127.0.0.1:{port}",
        "User-Agent: olist-producer",
        "Accept-Encoding: identity",
        "X-API-Key: k",
    }


async def test_a_chunked_answer_is_read_whole(raw_server: Callable[..., RawServer]) -> None:
    chunked = (
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n"
        b"Retry-After: 7\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    server = raw_server(lambda number, head: (chunked, False))

    response = await connection(server.url).get("/x", {})

    assert (response.status, response.body) == (503, b"hello world")
    assert response.headers["retry-after"] == "7"


async def test_a_connection_the_server_closed_is_reopened_for_the_next_request(
    raw_server: Callable[..., RawServer],
) -> None:
    # Keep-alive answers, but the server closes after each one (as when it times an idle
    # connection out): the next request must go out on a new connection, without an error.
    server = raw_server(lambda number, head: (ok(b"from %d" % number), True))
    client = connection(server.url)

    first = await client.get("/x", {})
    second = await client.get("/x", {})

    assert (first.body, second.body) == (b"from 1", b"from 2")
    assert server.connections == 2


async def test_an_answer_cut_short_is_transient(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(
        lambda number, head: (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", True)
    )

    with pytest.raises(SourceUnavailable, match="before the end of the answer"):
        await connection(server.url).get("/x", {})


async def test_an_answer_that_is_not_http_is_transient(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(lambda number, head: (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", False))

    with pytest.raises(SourceUnavailable, match=r"the answer is not HTTP/1\.1"):
        await connection(server.url).get("/x", {})


async def test_no_answer_within_the_timeout_is_transient_and_the_connection_dropped(
    raw_server: Callable[..., RawServer],
) -> None:
    answers: list[Answer | None] = [None, (ok(b"late but fine"), False)]
    server = raw_server(lambda number, head: answers.pop(0))
    client = connection(server.url, timeout=0.3)

    with pytest.raises(SourceUnavailable, match=r"no complete answer from .* within 0\.3 s"):
        await client.get("/x", {})
    assert (await client.get("/x", {})).body == b"late but fine"
    assert server.connections == 2


async def test_a_cancelled_request_never_leaves_its_answer_to_the_next_one(
    raw_server: Callable[..., RawServer],
) -> None:
    answered = threading.Event()

    def script(number: int, head: bytes) -> Answer | None:
        if number == 1:
            answered.wait(5)  # answers only once the client has given up on it
            return ok(b"stale answer"), False
        return ok(b"fresh answer"), False

    server = raw_server(script)
    client = connection(server.url)
    request = asyncio.create_task(client.get("/x", {}))
    while not server.requests:
        await asyncio.sleep(0.01)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    answered.set()

    assert (await client.get("/x", {})).body == b"fresh answer"
    assert server.connections == 2


async def test_nothing_listening_is_transient() -> None:
    port = free_port()

    with pytest.raises(SourceUnavailable, match=f"cannot connect to 127.0.0.1:{port}"):
        await connection(f"http://127.0.0.1:{port}").get("/x", {})


def test_a_url_without_http_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="expected an http:// or https:// URL"):
        connection("ftp://example.org")


def test_a_header_with_a_line_break_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="HTTP header X-API-Key holds a line break"):
        SourceConnection("http://h", {"X-API-Key": "k\r\nX: y"}, timeout=1, connect_timeout=1)
