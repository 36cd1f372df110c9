"""The pre-rendered event feed: same events as the view, appended in order, kept fresh by the API.

``olist.refresh_order_event_feed`` renders each committed order item once into
``olist.order_event_feed``; the API serves pages from it and renders on the spot the part of a
page the feed does not hold yet. These tests use a real PostgreSQL and real API processes.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import EVENT_FIELDS, OrderEvent
from source_db.csv.loader import load_csv_directory
from source_db.feed import refresh_feed
from source_db.synthetic.generator import generate_dataset
from tests.fixtures.api import ApiProcess, read_feed
from tests.fixtures.api_orders import insert_order, insert_orders, view_events

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The background refresher sleeps this long once caught up: tests that check what the API
# renders on the spot start it with an interval no test waits for.
NEVER = "60"


async def _refresh(database_url: str, max_rows: int) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        appended: int = await connection.fetchval(
            "SELECT olist.refresh_order_event_feed($1)", max_rows
        )
        return appended
    finally:
        await connection.close()


async def _feed(database_url: str) -> list[tuple[int, str]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT source_sequence, event_json FROM olist.order_event_feed "
            "ORDER BY source_sequence"
        )
    finally:
        await connection.close()
    return [(row["source_sequence"], row["event_json"]) for row in rows]


async def _metric(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
    assert len(values) == 1, f"{name} not exposed exactly once: {values}"
    return values[0]


async def _wait_until_feed_has(database_url: str, events: int, within: float) -> float:
    """Poll the feed table until it holds ``events`` rows; return how long it took."""
    started = time.monotonic()
    while len(await _feed(database_url)) != events:
        if time.monotonic() - started > within:
            raise AssertionError(
                f"the feed holds {len(await _feed(database_url))} events, expected {events} "
                f"within {within} s of the commit"
            )
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_feed_holds_the_view_row_for_row_rendered_as_the_api_serves_it(
    database_url: str,
) -> None:
    total = await insert_orders(database_url, 60, seed=61)
    assert await _refresh(database_url, 1000) == total
    feed = await _feed(database_url)
    assert [sequence for sequence, _ in feed] == list(range(1, total + 1))
    decoded = [json.loads(text) for _, text in feed]
    assert all(tuple(event) == EVENT_FIELDS for event in decoded)
    assert [event["source_sequence"] for event in decoded] == list(range(1, total + 1))
    assert [OrderEvent.model_validate(event) for event in decoded] == await view_events(
        database_url
    )


async def test_refresh_is_idempotent_and_appends_only_what_is_new(database_url: str) -> None:
    first = await insert_orders(database_url, 10, seed=62)
    assert await _refresh(database_url, 3) == 3
    assert await _refresh(database_url, 1000) == first - 3
    assert await _refresh(database_url, 1000) == 0
    before = await _feed(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            added = await insert_order(connection, random.Random(63))
    finally:
        await connection.close()
    assert await _refresh(database_url, 1000) == added
    assert await _refresh(database_url, 1000) == 0
    after = await _feed(database_url)
    assert after[: len(before)] == before
    assert [sequence for sequence, _ in after[len(before) :]] == list(
        range(first + 1, first + added + 1)
    )


async def test_refresh_refuses_a_bad_row_count_and_a_repeatable_read_transaction(
    database_url: str,
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.InvalidParameterValueError, match="max_rows >= 1, got 0"):
            await connection.fetchval("SELECT olist.refresh_order_event_feed(0)")
        with pytest.raises(asyncpg.InvalidTransactionStateError, match="repeatable read"):
            async with connection.transaction(isolation="repeatable_read"):
                await connection.fetchval("SELECT olist.refresh_order_event_feed(10)")
    finally:
        await connection.close()


async def test_refresh_never_skips_an_item_of_a_writer_that_commits_after_it_ran(
    database_url: str,
) -> None:
    first, second, observer = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        first_transaction = first.transaction()
        await first_transaction.start()
        first_items = await insert_order(first, random.Random(64))  # sequences 1.., still open

        async def second_order() -> int:
            async with second.transaction():
                items = await insert_order(second, random.Random(65))
                await second_may_commit.wait()
                return items

        second_may_commit = asyncio.Event()
        second_writer = asyncio.create_task(second_order())
        await _wait_until_blocked_on_a_lock(observer, second.get_server_pid())
        # Nothing is committed: the refresh must append nothing rather than anything later.
        assert await _refresh(database_url, 1000) == 0
        await first_transaction.commit()
        await _wait_until_idle_in_transaction(observer, second.get_server_pid())
        # The second writer holds higher sequences, uncommitted: only the first order goes in.
        assert await _refresh(database_url, 1000) == first_items
        second_may_commit.set()
        second_items = await second_writer
        assert await _refresh(database_url, 1000) == second_items
    finally:
        for connection in (first, second, observer):
            await connection.close()
    feed = await _feed(database_url)
    assert [sequence for sequence, _ in feed] == list(range(1, first_items + second_items + 1))
    assert [OrderEvent.model_validate_json(text) for _, text in feed] == await view_events(
        database_url
    )


async def _wait_until_blocked_on_a_lock(observer: asyncpg.Connection, pid: int) -> None:
    await _wait_for_state(observer, pid, "wait_event_type = 'Lock'")


async def _wait_until_idle_in_transaction(observer: asyncpg.Connection, pid: int) -> None:
    await _wait_for_state(observer, pid, "state = 'idle in transaction'")


async def _wait_for_state(observer: asyncpg.Connection, pid: int, condition: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await observer.fetchval(f"SELECT {condition} FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never reached {condition}")


async def test_background_refresher_puts_a_new_order_in_the_feed_within_a_second(
    api_server: ApiProcess, database_url: str
) -> None:
    total = await insert_orders(database_url, 5, seed=66)
    await _wait_until_feed_has(database_url, total, within=5)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            added = await insert_order(connection, random.Random(67))
    finally:
        await connection.close()
    await _wait_until_feed_has(database_url, total + added, within=1.0)
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        events, _ = await read_feed(client, limit=4)
        assert await _metric(client, "olist_api_feed_events_refreshed_total") == total + added
        assert await _metric(client, "olist_api_feed_lag_events") == 0
    assert [OrderEvent.model_validate(event) for event in events] == await view_events(database_url)


async def test_pages_render_on_the_spot_what_the_feed_does_not_hold_yet(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(database_url, extra_env={"OLIST_API_FEED_REFRESH_INTERVAL": NEVER})
    in_feed = await insert_orders(database_url, 6, seed=68)
    assert await _refresh(database_url, 1000) == in_feed
    not_in_feed = await insert_orders(database_url, 6, seed=69)
    async with httpx.AsyncClient(base_url=api.url) as client:
        # One page spanning the feed's head: its first part from the feed, the rest rendered.
        spanning = (await client.get("/v1/order-events", params={"limit": in_feed + 2})).json()
        events, pages = await read_feed(client, limit=5)
    assert len(await _feed(database_url)) == in_feed  # the refresher did not run meanwhile
    assert [event["source_sequence"] for event in spanning["events"]] == list(range(1, in_feed + 3))
    assert spanning["has_more"] is True
    assert spanning["head_sequence"] == in_feed + not_in_feed
    assert [OrderEvent.model_validate(event) for event in events] == await view_events(database_url)
    assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
    # What was rendered on the spot is what the feed stores once it catches up.
    assert await _refresh(database_url, 1000) == not_in_feed
    served_json = [json.dumps(event, separators=(",", ":"), ensure_ascii=False) for event in events]
    assert served_json == [text for _, text in await _feed(database_url)]


async def test_two_api_processes_on_one_database_serve_everything_and_render_each_event_once(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    fast = {"OLIST_API_FEED_REFRESH_INTERVAL": "0.02"}
    apis = [start_api(database_url, extra_env=fast), start_api(database_url, extra_env=fast)]
    total = 0
    for seed in range(70, 74):  # orders keep arriving while both refreshers run
        total += await insert_orders(database_url, 15, seed=seed)
        await asyncio.sleep(0.05)
    await _wait_until_feed_has(database_url, total, within=10)
    expected = await view_events(database_url)
    refreshed = 0.0
    for api in apis:
        async with httpx.AsyncClient(base_url=api.url) as client:
            events, _ = await read_feed(client, limit=25)
            refreshed += await _metric(client, "olist_api_feed_events_refreshed_total")
        assert [OrderEvent.model_validate(event) for event in events] == expected
    assert refreshed == total
    assert [sequence for sequence, _ in await _feed(database_url)] == list(range(1, total + 1))


async def test_generator_leaves_the_feed_caught_up(database_url: str) -> None:
    report = await generate_dataset(database_url, orders=300, seed=75, chunk_orders=100)
    feed = await _feed(database_url)
    assert len(feed) == report.items
    assert [OrderEvent.model_validate_json(text) for _, text in feed] == await view_events(
        database_url
    )


async def test_csv_loader_leaves_the_feed_caught_up(
    database_url: str, olist_csv_directory: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)
    feed = await _feed(database_url)
    expected = await view_events(database_url)
    assert len(expected) > 0
    assert [OrderEvent.model_validate_json(text) for _, text in feed] == expected


async def test_refresh_feed_appends_in_chunks_until_caught_up(database_url: str) -> None:
    total = await insert_orders(database_url, 20, seed=76)
    connection = await asyncpg.connect(database_url)
    try:
        assert await refresh_feed(connection, chunk_rows=4) == total
        assert await refresh_feed(connection, chunk_rows=4) == 0
    finally:
        await connection.close()
    assert [sequence for sequence, _ in await _feed(database_url)] == list(range(1, total + 1))


async def _stale_count(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM olist.order_event_feed_stale")
        return count
    finally:
        await connection.close()


async def test_change_after_rendering_is_served_at_once_and_rendered_again_by_the_next_refresh(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(database_url, extra_env={"OLIST_API_FEED_REFRESH_INTERVAL": NEVER})
    total = await insert_orders(database_url, 8, seed=77)
    assert await _refresh(database_url, 1000) == total
    rendered = await _feed(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        first_order = await connection.fetchval(
            "SELECT order_id FROM olist.order_items WHERE source_sequence = 1"
        )
        await connection.execute(
            "UPDATE olist.orders SET order_status = 'canceled' WHERE order_id = $1", first_order
        )
        await connection.execute(
            "INSERT INTO olist.order_payments VALUES ($1, 9, 'voucher', 12, 1000.25)", first_order
        )
        changed = await connection.fetchval(
            "SELECT count(*) FROM olist.order_items WHERE order_id = $1", first_order
        )
    finally:
        await connection.close()
    assert await _feed(database_url) == rendered  # the feed rows themselves are not touched
    async with httpx.AsyncClient(base_url=api.url) as client:
        events, _ = await read_feed(client, limit=3)
    assert [OrderEvent.model_validate(event) for event in events] == await view_events(database_url)
    first_events = [event for event in events if event["order_id"] == first_order]
    assert [event["order_status"] for event in first_events] == ["canceled"] * changed
    assert all(event["payment_installments_max"] == 12 for event in first_events)
    # Each statement marked the order's items; the refresh renders them once, in the feed.
    assert await _stale_count(database_url) == 2 * changed
    assert await _refresh(database_url, 1000) == changed
    assert await _stale_count(database_url) == 0
    assert [OrderEvent.model_validate_json(text) for _, text in await _feed(database_url)] == (
        await view_events(database_url)
    )


async def test_new_orders_mark_nothing_stale(database_url: str) -> None:
    await generate_dataset(database_url, orders=100, seed=78, chunk_orders=50)
    total = await insert_orders(database_url, 10, seed=79)
    assert total > 0
    assert await _stale_count(database_url) == 0


async def test_deleted_item_leaves_the_pages_at_once_and_the_feed_at_the_next_refresh(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(database_url, extra_env={"OLIST_API_FEED_REFRESH_INTERVAL": NEVER})
    total = await insert_orders(database_url, 5, seed=80)
    assert await _refresh(database_url, 1000) == total
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("DELETE FROM olist.order_items WHERE source_sequence = 2")
    finally:
        await connection.close()
    async with httpx.AsyncClient(base_url=api.url) as client:
        events, _ = await read_feed(client, limit=2)
    assert [event["source_sequence"] for event in events] == [1, *range(3, total + 1)]
    assert await _refresh(database_url, 1000) == 1
    assert [sequence for sequence, _ in await _feed(database_url)] == [1, *range(3, total + 1)]
