"""Read-ahead serves a sequential reader's next page early, and never a stale or short one."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from source_api.queries import fetch_event_page
from source_api.read_ahead import ReadAhead
from tests.fixtures.api import ApiProcess, read_feed
from tests.fixtures.api_orders import insert_order, insert_orders

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _read_ahead_outcomes(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "olist_api_read_ahead"
        for sample in family.samples
        if sample.name == "olist_api_read_ahead_total"
    }


@pytest.mark.parametrize("limit", [7, 10])
async def test_sequential_reader_gets_every_middle_page_from_read_ahead(
    api_server: ApiProcess, database_url: str, limit: int
) -> None:
    total = await insert_orders(database_url, 40, seed=51)
    if limit == 10:  # make the last page exactly full: served fresh all the same
        connection = await asyncpg.connect(database_url)
        try:
            while total % limit:
                async with connection.transaction():
                    total += await insert_order(connection, random.Random(total))
        finally:
            await connection.close()
    pages = math.ceil(total / limit)
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        events, _ = await read_feed(client, limit=limit)
        outcomes = await _read_ahead_outcomes(client)
    assert len(events) == total
    assert outcomes == {"hit": pages - 2, "miss": 1, "discarded": 1}


async def test_read_ahead_never_hides_a_commit_from_a_reader_at_the_head(
    api_server: ApiProcess, database_url: str
) -> None:
    total = await insert_orders(database_url, 20, seed=52)
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        # A full page with one event after it: the server reads ahead a 1-event page.
        first = (await client.get("/v1/order-events", params={"limit": total - 1})).json()
        assert first["has_more"] is True
        connection = await asyncpg.connect(database_url)
        try:
            async with connection.transaction():
                added = await insert_order(connection, random.Random(53))
        finally:
            await connection.close()
        second = (
            await client.get(
                "/v1/order-events", params={"limit": total - 1, "after": first["next_cursor"]}
            )
        ).json()
        outcomes = await _read_ahead_outcomes(client)
    assert len(second["events"]) == 1 + added
    assert second["head_sequence"] == total + added
    assert second["has_more"] is False
    assert outcomes == {"miss": 1, "discarded": 1}


async def test_read_ahead_can_be_disabled(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    total = await insert_orders(database_url, 10, seed=54)
    api = start_api(database_url, extra_env={"OLIST_API_READ_AHEAD_PAGES": "0"})
    async with httpx.AsyncClient(base_url=api.url) as client:
        events, pages = await read_feed(client, limit=3)
        outcomes = await _read_ahead_outcomes(client)
    assert len(events) == total
    assert outcomes == {"miss": len(pages)}


async def test_read_ahead_keeps_at_most_max_pages_pending(database_url: str) -> None:
    await insert_orders(database_url, 20, seed=55)
    outcomes = Counter("read_ahead", "test", ["outcome"], registry=CollectorRegistry())
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
    try:
        reader = ReadAhead(partial(fetch_event_page, pool), outcomes, max_pages=1)
        first_a = await reader.page(0, 2)  # schedules (2, 2)
        first_b = await reader.page(10, 2)  # schedules (12, 2), drops (2, 2)
        second_b = await reader.page(12, 2)
        second_a = await reader.page(2, 2)
        await reader.close()
    finally:
        await pool.close()
    assert [page.last_sequence for page in (first_a, second_a, first_b, second_b)] == [
        2, 4, 12, 14,
    ]  # fmt: skip
    (metric,) = outcomes.collect()
    counts = {
        sample.labels["outcome"]: sample.value
        for sample in metric.samples
        if sample.name == "read_ahead_total"
    }
    assert counts == {"miss": 3, "discarded": 2, "hit": 1}
