"""The order simulator: complete orders at the configured rate, clean stops, CLI and signals."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from typer.testing import CliRunner

from olist_cli.main import app
from schemas.order_event import OrderEvent
from source_db.synthetic.generator import generate_dataset
from source_db.synthetic.simulator import (
    NEW_CATALOGUE_PRODUCTS,
    NEW_CATALOGUE_SELLERS,
    InvalidSimulationRequest,
    insert_random_orders,
    simulate,
)

REPOSITORY = Path(__file__).resolve().parents[2]

INCOMPLETE_ORDERS = """
SELECT count(*) FROM olist.orders o
WHERE NOT EXISTS (SELECT 1 FROM olist.order_items i WHERE i.order_id = o.order_id)
   OR NOT EXISTS (SELECT 1 FROM olist.order_payments p WHERE p.order_id = o.order_id)
   OR (o.order_status = 'delivered'
       AND NOT EXISTS (SELECT 1 FROM olist.order_reviews r WHERE r.order_id = o.order_id))
   OR (SELECT sum(price + freight_value) FROM olist.order_items i WHERE i.order_id = o.order_id)
      <> (SELECT sum(payment_value) FROM olist.order_payments p WHERE p.order_id = o.order_id)
"""


async def _count(dsn: str, query: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def test_insert_random_orders_on_an_empty_database_creates_a_catalogue(
    database_url: str,
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        before = datetime.now(UTC)
        items = await insert_random_orders(connection, 12, np.random.default_rng(3))
        after = datetime.now(UTC)
        counts = {
            table: await connection.fetchval(f"SELECT count(*) FROM olist.{table}")
            for table in ("orders", "customers", "order_items", "products", "sellers")
        }
        bought = await connection.fetch("SELECT order_purchase_timestamp FROM olist.orders")
        incomplete = await connection.fetchval(INCOMPLETE_ORDERS)
        translations = await connection.fetchval(
            "SELECT count(*) FROM olist.product_category_name_translation"
        )
        events = await connection.fetch("SELECT * FROM olist.order_events")
    finally:
        await connection.close()
    assert counts == {
        "orders": 12,
        "customers": 12,
        "order_items": items,
        "products": NEW_CATALOGUE_PRODUCTS,
        "sellers": NEW_CATALOGUE_SELLERS,
    }
    assert items >= 12
    assert translations == 71
    assert incomplete == 0
    assert all(before <= row[0] <= after for row in bought)
    assert len([OrderEvent.model_validate(dict(row)) for row in events]) == items


async def test_insert_random_orders_sells_the_existing_catalogue(database_url: str) -> None:
    await generate_dataset(database_url, orders=200, seed=4)
    connection = await asyncpg.connect(database_url)
    try:
        products_before = await connection.fetchval("SELECT count(*) FROM olist.products")
        sequence_before = await connection.fetchval(
            "SELECT max(source_sequence) FROM olist.order_items"
        )
        items = await insert_random_orders(connection, 30, np.random.default_rng(8))
        products_after = await connection.fetchval("SELECT count(*) FROM olist.products")
        new_items = await connection.fetchval(
            "SELECT count(*) FROM olist.order_items WHERE source_sequence > $1", sequence_before
        )
        orders = await connection.fetchval("SELECT count(*) FROM olist.orders")
        incomplete = await connection.fetchval(INCOMPLETE_ORDERS)
    finally:
        await connection.close()
    assert products_after == products_before
    assert new_items == items
    assert orders == 230
    assert incomplete == 0


async def test_insert_random_orders_rejects_a_count_below_one(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(InvalidSimulationRequest, match="expected count >= 1, got 0"):
            await insert_random_orders(connection, 0, np.random.default_rng(1))
    finally:
        await connection.close()


async def test_simulate_inserts_rate_times_duration_orders(database_url: str) -> None:
    report = await simulate(database_url, rate=20.0, seed=1, stop=asyncio.Event(), duration=1.5)
    # Orders are due on a schedule (k / rate seconds after the start): 20/s for 1.5 s is 30,
    # however slow or fast the machine is.
    assert report.orders == 30
    assert report.stopped_by == "duration"
    assert await _count(database_url, "SELECT count(*) FROM olist.orders") == 30
    assert await _count(database_url, "SELECT count(*) FROM olist.order_items") == report.items
    assert await _count(database_url, INCOMPLETE_ORDERS) == 0


async def test_simulate_stops_at_max_orders(database_url: str) -> None:
    report = await simulate(database_url, rate=200.0, seed=2, stop=asyncio.Event(), max_orders=25)
    assert (report.orders, report.stopped_by) == (25, "max_orders")
    assert await _count(database_url, "SELECT count(*) FROM olist.orders") == 25


async def test_simulate_stops_cleanly_when_the_stop_event_is_set(database_url: str) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(simulate(database_url, rate=40.0, seed=3, stop=stop))
    while await _count(database_url, "SELECT count(*) FROM olist.orders") < 10:
        assert not running.done(), running.result()
        await asyncio.sleep(0.05)
    stop.set()
    report = await asyncio.wait_for(running, timeout=30)
    assert report.stopped_by == "stop"
    assert report.orders >= 10
    assert await _count(database_url, "SELECT count(*) FROM olist.orders") == report.orders
    assert await _count(database_url, INCOMPLETE_ORDERS) == 0


async def test_simulate_with_the_stop_event_already_set_inserts_nothing(
    database_url: str,
) -> None:
    stop = asyncio.Event()
    stop.set()
    report = await simulate(database_url, rate=5.0, seed=4, stop=stop)
    assert (report.orders, report.items, report.stopped_by) == (0, 0, "stop")
    assert await _count(database_url, "SELECT count(*) FROM olist.orders") == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rate": 0.0}, "expected a rate > 0 orders per second, got 0.0"),
        ({"rate": float("inf")}, "expected a rate > 0 orders per second, got inf"),
        ({"seed": -1}, "expected a seed >= 0, got -1"),
        ({"max_orders": 0}, "expected max_orders >= 1, got 0"),
        ({"duration": 0.0}, "expected a duration > 0 seconds, got 0.0"),
    ],
)
async def test_simulate_rejects_out_of_range_arguments(
    arguments: dict[str, Any], message: str
) -> None:
    options = {"rate": 1.0, "seed": 1, **arguments}
    with pytest.raises(InvalidSimulationRequest, match=re.escape(message)):
        await simulate("postgresql://unused@127.0.0.1:1/none", stop=asyncio.Event(), **options)


def test_simulate_command_inserts_max_orders_and_prints_a_summary(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", database_url)
    result = CliRunner().invoke(
        app, ["simulate", "--rate", "50", "--max-orders", "10", "--seed", "6"]
    )
    assert result.exit_code == 0, result.output
    assert "seed=6" in result.output
    assert re.search(r"simulated 10 orders \(\d+ items\) .* stopped by max_orders", result.output)
    assert asyncio.run(_count(database_url, "SELECT count(*) FROM olist.orders")) == 10


def test_simulate_command_reports_an_unreachable_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", "postgresql://olist@127.0.0.1:1/olist")
    result = CliRunner().invoke(app, ["simulate", "--rate", "1", "--max-orders", "1"])
    assert result.exit_code == 1
    assert "expected a reachable PostgreSQL server at 127.0.0.1:1/olist" in result.output


def test_simulate_process_stops_on_sigterm_after_the_current_transaction(
    database_url: str,
) -> None:
    environment = {**os.environ, "OLIST_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "olist_cli", "simulate", "--rate", "30", "--seed", "7"],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        orders = 0
        while orders < 5:
            assert process.poll() is None, process.communicate()
            orders = asyncio.run(_count(database_url, "SELECT count(*) FROM olist.orders"))
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    summary = re.search(r"simulated (\d+) orders .* stopped by stop", stdout)
    assert summary, stdout
    inserted = asyncio.run(_count(database_url, "SELECT count(*) FROM olist.orders"))
    assert int(summary.group(1)) == inserted
    assert asyncio.run(_count(database_url, INCOMPLETE_ORDERS)) == 0


CHANGES_PER_ORDER = """
SELECT o.order_id, o.order_status,
       1 + (o.order_approved_at IS NOT NULL)::int
         + (o.order_delivered_carrier_date IS NOT NULL)::int
         + (o.order_delivered_customer_date IS NOT NULL)::int
         + (o.order_status IN ('canceled', 'unavailable'))::int
         + (SELECT count(*) FROM olist.order_reviews AS r WHERE r.order_id = o.order_id)::int
         AS changes,
       (SELECT min(n) FROM (SELECT max(f.item_version) AS n FROM olist.order_event_feed AS f
        WHERE f.order_id = o.order_id GROUP BY f.order_item_id) AS v) AS versions
FROM olist.orders AS o
"""


async def test_simulate_moves_orders_through_their_life_cycle_one_version_per_change(
    database_url: str,
) -> None:
    # 1,200 simulated days per real minute: 20 days per second, so the orders of the first
    # second are delivered and reviewed before the end, however slow the machine.
    report = await simulate(
        database_url, rate=30.0, seed=9, stop=asyncio.Event(), duration=4.0, days_per_minute=1200
    )
    connection = await asyncpg.connect(database_url)
    try:
        orders = await connection.fetch(CHANGES_PER_ORDER)
        first_versions = [
            json.loads(record[0])
            for record in await connection.fetch(
                "SELECT event_json FROM olist.order_event_feed WHERE item_version = 1"
            )
        ]
        late_dates = await connection.fetchval(
            """
            SELECT count(*) FROM olist.orders AS o
            WHERE NOT (order_purchase_timestamp <= coalesce(order_approved_at, 'infinity')
                   AND coalesce(order_approved_at, order_purchase_timestamp)
                       <= coalesce(order_delivered_carrier_date, 'infinity')
                   AND coalesce(order_delivered_carrier_date, order_purchase_timestamp)
                       <= coalesce(order_delivered_customer_date, 'infinity'))
            """
        )
        reviews = await connection.fetchval("SELECT count(*) FROM olist.order_reviews")
    finally:
        await connection.close()
    statuses = [order["order_status"] for order in orders]
    assert len(orders) == report.orders == 120
    assert statuses.count("delivered") >= 20
    assert report.stages == sum(order["changes"] - 1 for order in orders)
    assert report.in_flight <= report.orders
    # Nothing but the purchase at purchase time: every first version is a bare new order.
    assert first_versions
    assert {event["order_status"] for event in first_versions} == {"created"}
    assert {event["order_approved_at"] for event in first_versions} == {None}
    assert {event["order_delivered_customer_date"] for event in first_versions} == {None}
    # Each change (approval, handover, delivery, cancellation, review) is a new version.
    assert [order["versions"] for order in orders] == [order["changes"] for order in orders]
    assert late_dates == 0
    assert reviews >= 10


def test_simulate_resumes_the_orders_in_flight_after_sigterm(database_url: str) -> None:
    environment = {**os.environ, "OLIST_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "olist_cli", "simulate", "--rate", "20", "--seed", "12",
         "--days-per-minute", "60"],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        orders = 0
        while orders < 10:
            assert process.poll() is None, process.communicate()
            orders = asyncio.run(_count(database_url, "SELECT count(*) FROM olist.orders"))
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert re.search(r"simulated \d+ orders .* stopped by stop; \d+ stages, \d+ in flight", stdout)
    pending = asyncio.run(_pending_order_ids(database_url))
    assert pending  # the orders bought in the last simulated days

    # A new run (another seed, 60 simulated days in 3 s) moves the first run's orders on.
    report = asyncio.run(
        simulate(
            database_url, rate=1.0, seed=13, stop=asyncio.Event(), duration=3.0,
            days_per_minute=1200,
        )
    )  # fmt: skip
    assert report.stages >= len(pending)
    assert not pending & asyncio.run(_pending_order_ids(database_url))


async def _pending_order_ids(dsn: str) -> set[str]:
    connection = await asyncpg.connect(dsn)
    try:
        records = await connection.fetch(
            "SELECT order_id FROM olist.orders WHERE order_status IN ('created', 'approved')"
        )
    finally:
        await connection.close()
    return {record[0] for record in records}
