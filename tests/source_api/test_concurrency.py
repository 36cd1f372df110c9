"""Paging while orders are written: no event is skipped or served twice.

The read path trusts one property of the source (source_db/sql/schema.sql): writers of
``order_items`` are serialised on an advisory lock held until commit, so sequence numbers become
visible in increasing order. These tests prove the property holds and that the API, relying on
it, serves every committed event exactly once in sequence order.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import numpy
import pytest

from source_db.synthetic.simulator import insert_random_orders
from tests.fixtures.api import ApiProcess, read_feed
from tests.fixtures.api_orders import insert_order

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _committed_event_ids(database_url: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT event_id FROM olist.order_events ORDER BY source_sequence"
        )
    finally:
        await connection.close()
    return [row["event_id"] for row in rows]


async def _wait_until_blocked_on_a_lock(observer: asyncpg.Connection, pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = await observer.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on a lock")


async def test_writer_waits_for_an_open_writer_so_sequences_commit_in_order(
    api_server: ApiProcess, database_url: str
) -> None:
    first, second, observer = [await asyncpg.connect(database_url) for _ in range(3)]
    rng = random.Random(11)
    try:
        first_transaction = first.transaction()
        await first_transaction.start()
        first_items = await insert_order(first, rng)  # holds sequences 1..first_items, open

        async def second_order() -> int:
            async with second.transaction():
                return await insert_order(second, random.Random(12))

        second_writer = asyncio.create_task(second_order())
        await _wait_until_blocked_on_a_lock(observer, second.get_server_pid())
        async with httpx.AsyncClient(base_url=api_server.url) as client:
            while_open = (await client.get("/v1/order-events")).json()
            assert while_open["events"] == []
            assert while_open["head_sequence"] == 0

            await first_transaction.commit()
            second_items = await second_writer
            events, _ = await read_feed(client, limit=1000, after=while_open["next_cursor"])
        assert [event["source_sequence"] for event in events] == list(
            range(1, first_items + second_items + 1)
        )
        assert [event["order_item_id"] for event in events] == [
            *range(1, first_items + 1),
            *range(1, second_items + 1),
        ]
    finally:
        for connection in (first, second, observer):
            await connection.close()


async def _write_orders(database_url: str, seed: int, transactions: int) -> tuple[int, int]:
    """Commit or roll back ``transactions`` transactions of 1 to 3 orders each.

    Returns (committed, rolled back). The simulator's ``insert_random_orders`` runs inside our
    transaction (its own becomes a savepoint), so we decide when it commits.
    """
    rng = random.Random(seed)
    order_rng = numpy.random.default_rng(seed)
    connection = await asyncpg.connect(database_url)
    committed = rolled_back = 0
    try:
        for _ in range(transactions):
            kind = rng.choices(["fast", "slow", "rollback"], weights=[6, 3, 1])[0]
            transaction = connection.transaction()
            await transaction.start()
            if kind == "slow":
                # Started before others commit, draws its sequences after them.
                await asyncio.sleep(rng.uniform(0, 0.02))
            await insert_random_orders(connection, rng.randint(1, 3), order_rng)
            if kind != "fast":
                # Holds the writers' lock (and its sequence numbers) while others queue.
                await asyncio.sleep(rng.uniform(0, 0.02))
            if kind == "rollback":
                await transaction.rollback()
                rolled_back += 1
            else:
                await transaction.commit()
                committed += 1
    finally:
        await connection.close()
    return committed, rolled_back


async def _feed_event_ids(database_url: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT event_json::json ->> 'event_id' AS event_id FROM olist.order_event_feed "
            "ORDER BY source_sequence"
        )
    finally:
        await connection.close()
    return [row["event_id"] for row in rows]


@pytest.mark.slow  # a race run for seconds
async def test_paging_during_concurrent_inserts_serves_each_committed_event_exactly_once(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    # The feed refresher runs all the time, so pages mix pre-rendered events and events
    # rendered on the spot, and the refresher races the writers' commits.
    api_server = start_api(database_url, extra_env={"OLIST_API_FEED_REFRESH_INTERVAL": "0.005"})
    connection = await asyncpg.connect(database_url)
    try:  # the first insert writes the catalogue every writer then draws from
        await insert_random_orders(connection, 1, numpy.random.default_rng(99))
    finally:
        await connection.close()
    writers = [
        asyncio.create_task(_write_orders(database_url, seed=seed, transactions=60))
        for seed in range(4)
    ]
    served: list[dict[str, Any]] = []
    reads_while_writing = 0
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as client:
        while True:
            writing = not all(writer.done() for writer in writers)
            params: dict[str, str | int] = {"limit": 13}
            if cursor is not None:
                params["after"] = cursor
            response = await client.get("/v1/order-events", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            served.extend(page["events"])
            cursor = page["next_cursor"]
            reads_while_writing += writing
            if not writing and not page["has_more"]:
                break
            if not page["events"]:
                await asyncio.sleep(0.005)
    outcomes = [await writer for writer in writers]
    assert sum(rolled_back for _, rolled_back in outcomes) > 0
    assert reads_while_writing > 10
    sequences = [event["source_sequence"] for event in served]
    assert all(earlier < later for earlier, later in itertools.pairwise(sequences))
    served_ids = [event["event_id"] for event in served]
    assert len(set(served_ids)) == len(served_ids)
    committed_ids = await _committed_event_ids(database_url)
    assert served_ids == committed_ids
    # The refresher appended every committed event once, none skipped, in sequence order.
    deadline = time.monotonic() + 30
    while (feed_ids := await _feed_event_ids(database_url)) != committed_ids:
        assert committed_ids[: len(feed_ids)] == feed_ids
        assert time.monotonic() < deadline, "the feed did not catch up within 30 s"
        await asyncio.sleep(0.02)
