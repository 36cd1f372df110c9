"""bench.producer's with/without rows: the httpx baseline reads what the producer's client reads."""

from __future__ import annotations

import asyncio

import pytest

import producer.source_client
from bench.httpx_source import HttpxConnection, use_client
from bench.producer import Comparison, SyntheticSource
from harness.processes import free_port
from producer.backoff import BackoffPolicy
from producer.errors import SourceUnavailable
from producer.source_client import EVENTS_PATH, SourceClient
from producer.source_connection import SourceConnection
from schemas.examples import EXAMPLE_EVENT

HEADERS = {"Accept": "application/json"}


def test_both_clients_read_the_same_answer_from_the_synthetic_source() -> None:
    async def read(connection: SourceConnection | HttpxConnection) -> tuple[int, str, bytes]:
        try:
            response = await connection.get(EVENTS_PATH, {"after": "2", "limit": 3})
            return response.status, response.headers["content-type"], response.body
        finally:
            await connection.aclose()

    with SyntheticSource(dict(EXAMPLE_EVENT), 10) as source:
        ours = asyncio.run(read(SourceConnection(source.url, HEADERS, 10, 5)))
        baseline = asyncio.run(read(HttpxConnection(source.url, HEADERS, 10, 5)))

    assert ours == baseline
    assert ours[0] == 200
    assert b'"next_cursor":"5"' in ours[2]


def test_the_httpx_baseline_reports_an_unreachable_source_as_unavailable() -> None:
    connection = HttpxConnection(f"http://127.0.0.1:{free_port()}", HEADERS, 5, 1)

    with pytest.raises(SourceUnavailable):
        asyncio.run(connection.get(EVENTS_PATH, {"limit": 1}))


def test_the_producer_client_reads_pages_through_httpx_once_told_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Restored after the test: use_client replaces the class for the whole process.
    monkeypatch.setattr(producer.source_client, "SourceConnection", SourceConnection)
    use_client("httpx")

    async def first_page(url: str) -> tuple[type, int, str]:
        async with SourceClient(url, BackoffPolicy(timeout=5)) as client:
            page = await client.fetch_page(None, 4)
            return type(client._connection), len(page.events), page.next_cursor

    with SyntheticSource(dict(EXAMPLE_EVENT), 10) as source:
        read = asyncio.run(first_page(source.url))

    assert read == (HttpxConnection, 4, "4")


def test_gains_and_savings_say_how_much_better_the_device_is() -> None:
    cost = Comparison("device", "CPU µs/event", higher_is_better=False)
    rate = Comparison("device", "events/s", higher_is_better=True)
    for with_device, without_device in ((1.0, 4.0), (2.0, 3.0)):
        cost.record(True, with_device)
        cost.record(False, without_device)
        rate.record(True, 10 * without_device)
        rate.record(False, 10 * with_device)

    assert cost.gains == [4.0, 1.5]
    assert cost.savings == [3.0, 1.0]
    assert rate.gains == [4.0, 1.5]
    assert rate.savings == [30.0, 10.0]
    assert cost.summary()["gain_range"] == [1.5, 4.0]
