"""The source client over real HTTP: the real API, and a scripted server for 429 / 5xx."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from harness.processes import free_port
from producer.backoff import BackoffPolicy
from producer.errors import (
    SourceProtocolError,
    SourceRejected,
    SourceRetriesExhausted,
    TransientError,
)
from producer.source_client import SourceClient
from tests.fixtures.api import ApiProcess
from tests.fixtures.producer import seed_events

QUICK = BackoffPolicy(initial_delay=0.01, max_delay=0.05, timeout=5.0)
PAGE = {"events": [], "next_cursor": "abc", "has_more": False, "head_sequence": 0}


class ScriptedServer:
    """A real HTTP server answering each request with the next scripted response."""

    def __init__(self, responses: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.responses = responses
        self.requests: list[str] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                script.requests.append(self.path)
                status, headers, body = script.responses.pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(responses: list[tuple[int, dict[str, str], bytes]]) -> ScriptedServer:
        server = ScriptedServer(responses).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


async def test_pages_follow_the_cursor_to_the_head_of_the_real_api(
    database_url: str, api_server: ApiProcess
) -> None:
    total = await seed_events(database_url, orders=60)
    sequences: list[int] = []
    after: str | None = None
    async with SourceClient(api_server.url, QUICK) as client:
        while True:
            page = await client.fetch_page(after, limit=25)
            sequences.extend(orjson.loads(bytes(event))["source_sequence"] for event in page.events)
            after = page.next_cursor
            if not page.has_more:
                break
        assert page.head_sequence == total

    assert sequences == list(range(1, total + 1))


async def test_429_and_503_are_retried_honouring_retry_after(
    scripted: Callable[..., ScriptedServer],
) -> None:
    server = scripted(
        [
            (429, {"Retry-After": "0"}, b"slow down"),
            (503, {}, b"maintenance"),
            (200, {"Content-Type": "application/json"}, orjson.dumps(PAGE)),
        ]
    )
    retried: list[TransientError] = []

    async with SourceClient(server.url, QUICK, on_retry=retried.append) as client:
        page = await client.fetch_page("start", limit=10)

    assert page.next_cursor == "abc"
    assert [error.retry_after for error in retried] == [0.0, None]
    assert "answered 429: slow down" in str(retried[0])
    assert "answered 503: maintenance" in str(retried[1])
    assert server.requests == ["/v1/order-events?limit=10&after=start"] * 3


async def test_an_api_key_is_sent_in_the_header_and_a_wrong_one_is_terminal(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    await seed_events(database_url, orders=5)
    api = start_api(database_url, api_key="the-right-key")

    async with SourceClient(api.url, QUICK, api_key="the-right-key") as client:
        assert (await client.fetch_page(None, limit=5)).events
    async with SourceClient(api.url, QUICK, api_key="a-wrong-key") as client:
        with pytest.raises(SourceRejected, match="refused the API key \\(401"):
            await client.fetch_page(None, limit=5)


async def test_a_cursor_the_api_does_not_accept_is_terminal(api_server: ApiProcess) -> None:
    async with SourceClient(api_server.url, QUICK) as client:
        with pytest.raises(SourceRejected, match=r"answered 422: .* a 422 means the saved cursor"):
            await client.fetch_page("not-a-cursor", limit=5)


async def test_an_unreachable_api_fails_after_the_retry_budget() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = BackoffPolicy(initial_delay=0.01, max_delay=0.05, timeout=0.5)

    async with SourceClient(url, policy) as client:
        with pytest.raises(SourceRetriesExhausted, match=f"the source API at {url} stayed"):
            await client.fetch_page(None, limit=5)


async def test_a_body_that_is_not_the_contract_is_terminal(
    scripted: Callable[..., ScriptedServer],
) -> None:
    server = scripted([(200, {}, b'{"items": []}'), (200, {}, b"<html>")])

    async with SourceClient(server.url, QUICK) as client:
        with pytest.raises(SourceProtocolError, match="found keys \\['items'\\]"):
            await client.fetch_page(None, limit=5)
        with pytest.raises(SourceProtocolError, match="is not JSON"):
            await client.fetch_page(None, limit=5)
