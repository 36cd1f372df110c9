"""The event feed: every committed change of an order item is a new version, in commit order.

Statement triggers record the items each write touches; at COMMIT the transaction renders each
touched item once and appends a version of every item whose event changed (a deletion version
for a deleted item) to ``olist.order_event_feed``, under the lock that orders sequences. These
tests use a real PostgreSQL and real API processes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest

from schemas import EVENT_FIELDS, OrderEvent, event_id_for, item_key_for
from source_db.csv.loader import load_csv_directory
from source_db.feed import refresh_feed
from source_db.synthetic.generator import generate_dataset
from source_db.synthetic.simulator import NEW_CATALOGUE_SELLERS, OrderWriter
from tests.fixtures.api import ApiProcess, read_feed
from tests.fixtures.api_orders import insert_order, insert_orders, view_events

pytestmark = pytest.mark.asyncio(loop_scope="session")


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


async def _events(database_url: str) -> list[dict[str, Any]]:
    return [json.loads(text) for _, text in await _feed(database_url)]


async def _execute(database_url: str, *statements: str) -> None:
    """Run ``statements`` in one transaction."""
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            for statement in statements:
                await connection.execute(statement)
    finally:
        await connection.close()


def _latest_per_item(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        latest[event["item_key"]] = event
    return sorted(
        (event for event in latest.values() if event["change_type"] != "deleted"),
        key=lambda event: event["source_sequence"],
    )


async def test_feed_holds_the_view_row_for_row_rendered_as_the_api_serves_it(
    database_url: str,
) -> None:
    total = await insert_orders(database_url, 60, seed=61)
    feed = await _feed(database_url)  # no refresh: each commit wrote its versions
    assert [sequence for sequence, _ in feed] == list(range(1, total + 1))
    decoded = [json.loads(text) for _, text in feed]
    assert all(tuple(event) == EVENT_FIELDS for event in decoded)
    assert [OrderEvent.model_validate(event) for event in decoded] == await view_events(
        database_url
    )
    assert {(e["item_version"], e["change_type"], e["schema_version"]) for e in decoded} == {
        (1, "created", 2)
    }
    connection = await asyncpg.connect(database_url)
    try:
        view_json = await connection.fetch(
            "SELECT source_sequence, event_json FROM olist.render_order_events(0, 1000)"
        )
        # The view's own rendering, byte for byte what the feed stores.
        live = await connection.fetch(
            "SELECT j.source_sequence, j.event_json FROM olist.order_event_json AS j ORDER BY 1"
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in view_json] == feed
    assert [tuple(row) for row in live] == feed


async def test_every_committed_change_appends_one_version_per_item_with_a_new_sequence(
    database_url: str,
) -> None:
    total = await insert_orders(database_url, 8, seed=77)
    first = (await _events(database_url))[0]
    order = first["order_id"]
    items = [e for e in await _events(database_url) if e["order_id"] == order]
    before = time.time()
    # Three statements on three tables, one transaction: one new version per item.
    await _execute(
        database_url,
        f"UPDATE olist.orders SET order_status = 'canceled' WHERE order_id = '{order}'",
        f"INSERT INTO olist.order_payments VALUES ('{order}', 9, 'voucher', 12, 1000.25)",
        f"DELETE FROM olist.order_reviews WHERE order_id = '{order}'",
    )
    events = await _events(database_url)
    new = events[total:]
    assert [e["source_sequence"] for e in new] == list(range(total + 1, total + 1 + len(items)))
    assert [(e["order_item_id"], e["item_version"], e["change_type"]) for e in new] == [
        (item["order_item_id"], 2, "updated") for item in items
    ]
    for event in new:
        assert event["order_status"] == "canceled"
        assert event["payment_installments_max"] == 12
        assert event["review_score"] is None
        assert event["item_key"] == item_key_for(order, event["order_item_id"])
        assert event["event_id"] == event_id_for(order, event["order_item_id"], 2)
        changed_at = OrderEvent.model_validate(event).changed_at
        assert changed_at is not None and changed_at.timestamp() >= before - 1
    assert events[:total] == (await _events(database_url))[:total]  # history never changes
    # The view shows each item's current version, as the feed's latest.
    assert [OrderEvent.model_validate(e) for e in _latest_per_item(events)] == (
        await view_events(database_url)
    )


async def test_a_change_the_event_does_not_carry_emits_nothing(database_url: str) -> None:
    total = await insert_orders(database_url, 6, seed=81)
    order = (await _events(database_url))[0]["order_id"]
    status = (await _events(database_url))[0]["order_status"]
    await _execute(
        database_url,
        "UPDATE olist.products SET product_name_lenght = 42, product_photos_qty = 3",
        f"UPDATE olist.orders SET order_status = '{status}' WHERE order_id = '{order}'",
        "UPDATE olist.customers SET customer_city = customer_city",
    )
    assert len(await _feed(database_url)) == total


async def test_a_change_reverted_in_the_same_transaction_emits_nothing(database_url: str) -> None:
    total = await insert_orders(database_url, 4, seed=82)
    order = (await _events(database_url))[0]["order_id"]
    await _execute(
        database_url,
        f"UPDATE olist.order_items SET price = price + 1 WHERE order_id = '{order}'",
        f"UPDATE olist.order_items SET price = price - 1 WHERE order_id = '{order}'",
    )
    assert len(await _feed(database_url)) == total


async def test_deleting_an_item_appends_a_deletion_version_with_its_last_state(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(database_url)
    total = await insert_orders(database_url, 5, seed=80)
    second = (await _events(database_url))[1]
    await _execute(database_url, "DELETE FROM olist.order_items WHERE source_sequence = 2")
    events = await _events(database_url)
    assert len(events) == total + 1
    deletion = events[-1]
    assert deletion["source_sequence"] == total + 1
    assert (deletion["item_version"], deletion["change_type"]) == (2, "deleted")
    assert deletion["event_id"] == event_id_for(second["order_id"], second["order_item_id"], 2)
    unchanged = ("source_sequence", "event_id", "item_version", "change_type", "changed_at")
    assert {k: v for k, v in deletion.items() if k not in unchanged} == {
        k: v for k, v in second.items() if k not in unchanged
    }
    OrderEvent.model_validate(deletion)
    # Deleting it again (it is gone) or deleting nothing emits nothing.
    await _execute(database_url, "DELETE FROM olist.order_items WHERE source_sequence = 2")
    assert len(await _feed(database_url)) == total + 1
    async with httpx.AsyncClient(base_url=api.url) as client:
        served, pages = await read_feed(client, limit=2)
        last = (await client.get("/v1/order-events", params={"limit": total})).json()
    assert served == events
    assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert (last["has_more"], last["head_sequence"]) == (True, total + 1)


ENVELOPE = ("source_sequence", "event_id", "item_version", "change_type", "changed_at")


def _content(event: dict[str, Any]) -> dict[str, Any]:
    """The item's fields, without the version's envelope."""
    return {k: v for k, v in event.items() if k not in ENVELOPE}


async def test_a_changed_purchase_time_appends_a_deletion_with_the_old_time_then_the_update(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    # The warehouse partitions versions by purchase date: the deletion, on the old date, is
    # what keeps a late older version there from bringing the item back.
    api = start_api(database_url)
    total = await insert_orders(database_url, 6, seed=88)
    before = await _events(database_url)
    order = before[0]["order_id"]
    items = [e for e in before if e["order_id"] == order]
    await _execute(
        database_url,
        "UPDATE olist.orders SET order_purchase_timestamp = order_purchase_timestamp "
        f"+ interval '40 days', order_status = 'approved' WHERE order_id = '{order}'",
    )
    events = await _events(database_url)
    new = events[total:]
    assert [e["source_sequence"] for e in new] == list(range(total + 1, total + 1 + 2 * len(items)))
    assert [(e["order_item_id"], e["item_version"], e["change_type"]) for e in new] == [
        (item["order_item_id"], version, change)
        for item in items
        for version, change in [(2, "deleted"), (3, "updated")]
    ]
    for item, deletion, update in zip(items, new[::2], new[1::2], strict=True):
        assert _content(deletion) == _content(item)  # its previous content, old purchase time
        assert deletion["event_id"] == event_id_for(order, item["order_item_id"], 2)
        assert update["event_id"] == event_id_for(order, item["order_item_id"], 3)
        moved = OrderEvent.model_validate(update).order_purchase_timestamp
        assert moved - OrderEvent.model_validate(item).order_purchase_timestamp == dt.timedelta(
            days=40
        )
        assert update["order_status"] == "approved"
        OrderEvent.model_validate(deletion)
    assert [OrderEvent.model_validate(e) for e in _latest_per_item(events)] == (
        await view_events(database_url)
    )
    async with httpx.AsyncClient(base_url=api.url) as client:
        served, _ = await read_feed(client, limit=3)
    assert served == events


async def test_an_unchanged_purchase_time_appends_only_the_update(database_url: str) -> None:
    total = await insert_orders(database_url, 6, seed=89)
    before = await _events(database_url)
    kept, moved = before[0]["order_id"], before[-1]["order_id"]
    # One commit: a status change that rewrites the purchase time to itself, and a move.
    await _execute(
        database_url,
        "UPDATE olist.orders SET order_purchase_timestamp = order_purchase_timestamp, "
        f"order_status = 'shipped' WHERE order_id = '{kept}'",
        "UPDATE olist.orders SET order_purchase_timestamp = order_purchase_timestamp "
        f"- interval '1 second' WHERE order_id = '{moved}'",
    )
    new = (await _events(database_url))[total:]
    assert [
        (e["order_id"], e["order_item_id"], e["item_version"], e["change_type"]) for e in new
    ] == [
        (e["order_id"], e["order_item_id"], 2, "updated") for e in before if e["order_id"] == kept
    ] + [
        (e["order_id"], e["order_item_id"], version, change)
        for e in before
        if e["order_id"] == moved
        for version, change in [(2, "deleted"), (3, "updated")]
    ]
    assert [e["source_sequence"] for e in new] == list(range(total + 1, total + 1 + len(new)))


async def test_an_item_written_again_under_a_new_purchase_time_publishes_its_deletion_first(
    database_url: str,
) -> None:
    # Inserted again, the item draws a sequence at INSERT; kept, it would come before the
    # deletion, which draws its own at COMMIT. Both versions draw theirs at COMMIT instead.
    total = await insert_orders(database_url, 4, seed=90)
    first = (await _events(database_url))[0]
    order, item = first["order_id"], first["order_item_id"]
    key = f"order_id = '{order}' AND order_item_id = {item}"
    await _execute(
        database_url,
        "UPDATE olist.orders SET order_purchase_timestamp = order_purchase_timestamp "
        f"+ interval '3 days' WHERE order_id = '{order}'",
        f"CREATE TEMP TABLE gone ON COMMIT DROP AS SELECT * FROM olist.order_items WHERE {key}",
        f"DELETE FROM olist.order_items WHERE {key}",
        "INSERT INTO olist.order_items (order_id, order_item_id, product_id, seller_id, "
        "shipping_limit_date, price, freight_value) SELECT order_id, order_item_id, product_id, "
        "seller_id, shipping_limit_date, price, freight_value FROM gone",
    )
    events = await _events(database_url)
    mine = [e for e in events[total:] if e["item_key"] == first["item_key"]]
    assert [(e["item_version"], e["change_type"]) for e in mine] == [(2, "deleted"), (3, "updated")]
    assert _content(mine[0]) == _content(first)
    assert mine[1]["source_sequence"] == mine[0]["source_sequence"] + 1
    assert [e["source_sequence"] for e in events] == sorted(e["source_sequence"] for e in events)
    assert [OrderEvent.model_validate(e) for e in _latest_per_item(events)] == (
        await view_events(database_url)
    )


async def test_a_bulk_change_emits_each_affected_item_once_per_transaction(
    database_url: str,
) -> None:
    report = await generate_dataset(database_url, orders=200, seed=83, chunk_orders=100)
    assert len(await _feed(database_url)) == report.items
    # Every order touched by three statements, and every category's translation edited.
    await _execute(
        database_url,
        "UPDATE olist.orders SET order_status = 'canceled'",
        "UPDATE olist.order_payments SET payment_installments = payment_installments + 1",
        "UPDATE olist.product_category_name_translation "
        "SET product_category_name_english = upper(product_category_name_english)",
    )
    events = await _events(database_url)
    new = events[report.items :]
    assert len(new) == report.items
    assert len({event["item_key"] for event in new}) == report.items
    assert {(event["item_version"], event["change_type"]) for event in new} == {(2, "updated")}
    assert {event["order_status"] for event in new} == {"canceled"}
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM olist.order_item_changes") == 0
    finally:
        await connection.close()


async def test_an_open_change_takes_its_sequence_at_commit_after_writers_that_commit_first(
    database_url: str,
) -> None:
    total = await insert_orders(database_url, 3, seed=84)
    order = (await _events(database_url))[0]["order_id"]
    updater = await asyncpg.connect(database_url)
    try:
        transaction = updater.transaction()
        await transaction.start()
        await updater.execute(
            "UPDATE olist.orders SET order_status = 'shipped' WHERE order_id = $1", order
        )
        # Another writer inserts and commits meanwhile: it is not blocked by the open update.
        added = await insert_orders(database_url, 1, seed=85)
        await transaction.commit()
    finally:
        await updater.close()
    events = await _events(database_url)
    assert [e["source_sequence"] for e in events] == sorted(e["source_sequence"] for e in events)
    inserted = [e for e in events[total:] if e["change_type"] == "created"]
    updated = [e for e in events[total:] if e["change_type"] == "updated"]
    assert len(inserted) == added and updated
    assert max(e["source_sequence"] for e in inserted) < min(e["source_sequence"] for e in updated)


async def test_a_new_order_and_a_change_are_served_by_the_next_request(
    api_server: ApiProcess, database_url: str
) -> None:
    total = await insert_orders(database_url, 5, seed=66)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            added = await insert_order(connection, random.Random(67))
        order = await connection.fetchval(
            "SELECT order_id FROM olist.order_items WHERE source_sequence = 1"
        )
        await connection.execute(
            "UPDATE olist.orders SET order_status = 'delivered', "
            "order_delivered_customer_date = '2019-01-01T00:00:00Z' WHERE order_id = $1",
            order,
        )
    finally:
        await connection.close()
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        events, _ = await read_feed(client, limit=4)
    assert len(events) > total + added
    assert events == await _events(database_url)
    assert events[-1]["order_id"] == order and events[-1]["change_type"] == "updated"


async def test_generator_and_csv_loader_leave_one_version_per_item(
    database_url: str, olist_csv_directory: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)
    report = await generate_dataset(database_url, orders=300, seed=75, chunk_orders=100)
    feed = await _feed(database_url)
    expected = await view_events(database_url)
    assert len(feed) == len(expected) >= report.items
    assert [OrderEvent.model_validate_json(text) for _, text in feed] == expected


async def test_refresh_answers_zero_and_refuses_a_bad_row_count(database_url: str) -> None:
    await insert_orders(database_url, 5, seed=76)
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.InvalidParameterValueError, match="max_rows >= 1, got 0"):
            await connection.fetchval("SELECT olist.refresh_order_event_feed(0)")
        assert await refresh_feed(connection, chunk_rows=4) == 0
    finally:
        await connection.close()


async def test_versions_keep_commit_order_under_concurrent_updaters_and_inserters(
    database_url: str,
) -> None:
    await insert_orders(database_url, 20, seed=86)
    orders = sorted({e["order_id"] for e in await _events(database_url)})

    async def updater(seed: int) -> None:
        rng = random.Random(seed)
        connection = await asyncpg.connect(database_url)
        try:
            for _ in range(15):
                async with connection.transaction():
                    await connection.execute(
                        "UPDATE olist.orders SET order_approved_at = now() WHERE order_id = $1",
                        rng.choice(orders),
                    )
                    await asyncio.sleep(rng.random() / 100)
        finally:
            await connection.close()

    await asyncio.gather(
        updater(1), updater(2), updater(3), insert_orders(database_url, 15, seed=87)
    )
    events = await _events(database_url)
    sequences = [e["source_sequence"] for e in events]
    assert len(set(sequences)) == len(sequences)
    versions: dict[str, list[int]] = {}
    for event in events:
        versions.setdefault(event["item_key"], []).append(event["item_version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert [OrderEvent.model_validate(e) for e in _latest_per_item(events)] == (
        await view_events(database_url)
    )


ROWS_READ = """
SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)
FROM pg_stat_xact_user_tables WHERE schemaname = 'olist'
"""


async def _flush_rows_read_per_item(
    connection: asyncpg.Connection, write: Callable[[], Any]
) -> float:
    """Rows of olist tables the flush of one transaction reads, per item it publishes.

    The flush is a deferred trigger: ``SET CONSTRAINTS ALL IMMEDIATE`` runs it before COMMIT,
    so the transaction's own statistics (``pg_stat_xact_user_tables``) isolate its reads from
    the writes' (foreign-key checks, the change triggers).
    """
    async with connection.transaction():
        await write()
        before = await connection.fetchval(ROWS_READ)
        published_before = await connection.fetchval("SELECT count(*) FROM olist.order_event_feed")
        await connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
        rows_read = await connection.fetchval(ROWS_READ) - before
        published = (
            await connection.fetchval("SELECT count(*) FROM olist.order_event_feed")
            - published_before
        )
    assert published > 0
    return float(rows_read / published)


async def test_the_flush_reads_a_bounded_number_of_rows_per_item_after_analyze(
    database_url: str,
) -> None:
    # After an ANALYZE of a small database (the pending-changes table empty, as ANALYZE always
    # sees it), the flush was planned as a nested loop re-rendering every pending item for each
    # item: rows read per item grew with the transaction (6,226 for 111 items, 25,443 for 454),
    # and a COMMIT of 2,000 orders went from 1 s to over 100 s.
    connection = await asyncpg.connect(database_url)
    try:
        rng = np.random.default_rng(12)
        writer = await OrderWriter.load(connection, rng)
        await writer.insert(connection, rng, 500, now_us=1_700_000_000_000_000)
        await connection.execute("ANALYZE")

        async def insert(orders: int, now_us: int) -> None:
            await writer.insert(connection, rng, orders, now_us=now_us)

        small = await _flush_rows_read_per_item(
            connection, lambda: insert(50, 1_700_000_010_000_000)
        )
        large = await _flush_rows_read_per_item(
            connection, lambda: insert(400, 1_700_000_020_000_000)
        )
        updated = await _flush_rows_read_per_item(
            connection,
            lambda: connection.execute(
                "UPDATE olist.orders SET order_status = 'approved', order_approved_at = now()"
            ),
        )
        # A new purchase time: two versions per item (the deletion, then the update).
        moved = 2 * await _flush_rows_read_per_item(
            connection,
            lambda: connection.execute(
                "UPDATE olist.orders SET order_purchase_timestamp = order_purchase_timestamp "
                "+ interval '1 day'"
            ),
        )
    finally:
        await connection.close()
    # Per item: about a dozen primary-key probes, plus the catalogue's sellers, read whole
    # (one page: cheaper than an index probe); nothing that grows with the transaction.
    bound = NEW_CATALOGUE_SELLERS + 50
    assert max(small, large, updated, moved) < bound, (small, large, updated, moved)
    assert large <= 1.25 * small, (small, large)
