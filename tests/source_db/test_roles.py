"""Least privilege in PostgreSQL (issue 14 §1): a writer role for the loader, generator and
simulator, a reader role for the API, the owner alone with DDL.

Logins made members of ``olist_writer`` / ``olist_reader`` (as docs/operations/security.md
says) do their job end to end (generate orders, a CSV load, serve pages whose versions the
triggers wrote as the owner) and are refused everything else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from source_db.csv.loader import load_csv_directory
from source_db.synthetic.generator import generate_dataset
from tests.fixtures.api import ApiProcess
from tests.fixtures.olist_csv import write_olist_csv_files

_logins = itertools.count(1)


async def _login(database_url: str, group: str) -> str:
    """A new login role in ``group``; returns ``database_url`` as that login."""
    name = f"olist_{group.split('_')[1]}_{next(_logins)}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.execute(f"CREATE ROLE {name} LOGIN IN ROLE {group}")
    finally:
        await admin.close()
    scheme, rest = database_url.split("://", 1)
    return f"{scheme}://{name}@{rest.split('@', 1)[1]}"


async def _refused(dsn: str, statement: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    except asyncpg.InsufficientPrivilegeError:
        return True
    finally:
        await connection.close()
    return False


async def test_a_writer_login_generates_and_loads_and_the_triggers_write_the_feed(
    database_url: str, tmp_path: Path
) -> None:
    writer = await _login(database_url, "olist_writer")

    report = await generate_dataset(writer, orders=30, seed=5)
    write_olist_csv_files(tmp_path)
    await load_csv_directory(writer, tmp_path)

    admin = await asyncpg.connect(database_url)
    try:
        items = await admin.fetchval("SELECT count(*) FROM olist.order_items")
        versions = await admin.fetchval(
            "SELECT count(DISTINCT (order_id, order_item_id)) FROM olist.order_event_feed"
        )
    finally:
        await admin.close()
    assert report.orders == 30
    assert items == versions > 0


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO olist.order_event_feed (source_sequence, event_json) VALUES (1, '{}')",
        "DELETE FROM olist.order_event_feed",
        "CREATE TABLE olist.sneaky (x int)",
        "DROP TABLE olist.orders",
        "ALTER TABLE olist.orders ADD COLUMN sneaky int",
    ],
)
async def test_a_writer_cannot_touch_the_feed_or_the_schema(
    database_url: str, statement: str
) -> None:
    assert await _refused(await _login(database_url, "olist_writer"), statement)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO olist.product_category_name_translation VALUES ('x', 'y')",
        "UPDATE olist.orders SET order_status = 'canceled'",
        "DELETE FROM olist.order_event_feed",
        "CREATE TABLE olist.sneaky (x int)",
    ],
)
async def test_a_reader_cannot_write_anything(database_url: str, statement: str) -> None:
    assert await _refused(await _login(database_url, "olist_reader"), statement)


async def test_the_api_serves_pages_as_a_reader_login(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    writer = await _login(database_url, "olist_writer")
    await generate_dataset(writer, orders=10, seed=9)
    reader = await _login(database_url, "olist_reader")

    api = start_api(reader)
    page = httpx.get(f"{api.url}/v1/order-events", params={"limit": 5000}, timeout=60).json()

    assert len(page["events"]) == page["head_sequence"] > 0
    assert "permission denied" not in api.log_tail(100_000)
