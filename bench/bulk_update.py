"""Cost of a bulk change now that every change is a new version, and the API's speed during it.

``python -m bench.bulk_update --orders 100000`` starts its own PostgreSQL, generates that many
orders (``source_db.synthetic.generator``), starts the API as a subprocess, then measures in
the same run:

1. **baseline UPDATE**: ``UPDATE olist.orders SET order_status = ...`` of every order with the
   triggers off (``session_replication_role = replica``), rolled back: what the statement
   costs without versions;
2. **UPDATE with versions**: the same statement, committed, triggers on: each item touched
   gets one new version rendered and appended to the feed at COMMIT (docs/design/source-feed.md);
3. **API throughput, quiet**: a reader paging ``GET /v1/order-events?limit=5000`` from the
   start, again and again, for as long as (2) took, with nothing else running;
4. **API throughput during (2)**: the same reader while the UPDATE and its commit run.

Prints a table, then as the last line one JSON object with the figures and their ratios
(``update_ratio`` = with versions / baseline, ``api_ratio`` = during / quiet). The figures it
measured, with dates and load, are in docs/design/source-feed.md#measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from subprocess import Popen

import asyncpg
import httpx
import orjson

from emulators.postgres import LocalPostgres
from harness.processes import free_port, kill_process_group, start_process_group, wait_for_port
from schemas.log_format import configure_logging
from source_db.ddl import init_database
from source_db.synthetic.generator import generate_dataset

log = logging.getLogger("bench.bulk_update")

PAGE_SIZE = 5000
BULK_UPDATE_SQL = (
    "UPDATE olist.orders SET order_status = CASE order_status WHEN 'canceled' "
    "THEN 'delivered' ELSE 'canceled' END"
)
"""Changes every order, so every item's event changes."""


async def _update(dsn: str, *, versions: bool) -> float:
    """Seconds of the bulk UPDATE and its COMMIT; without versions it is rolled back."""
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        transaction = connection.transaction()
        await transaction.start()
        if not versions:
            await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(BULK_UPDATE_SQL)
        if versions:
            await transaction.commit()
        else:
            await transaction.rollback()
        return time.perf_counter() - started
    finally:
        await connection.close()


async def _read_until(base_url: str, done: asyncio.Event) -> tuple[int, float]:
    """Page through the feed from the start, over and over, until ``done``; events, seconds."""
    events = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        while not done.is_set():
            after: str | None = None
            while not done.is_set():
                params: dict[str, str | int] = {"limit": PAGE_SIZE}
                if after is not None:
                    params["after"] = after
                response = await client.get("/v1/order-events", params=params)
                response.raise_for_status()
                page = orjson.loads(response.content)
                events += len(page["events"])
                after = page["next_cursor"]
                if not page["has_more"]:
                    break
    return events, time.perf_counter() - started


async def _quiet_reader(base_url: str, seconds: float) -> tuple[int, float]:
    done = asyncio.Event()
    reader = asyncio.create_task(_read_until(base_url, done))
    await asyncio.sleep(seconds)
    done.set()
    return await reader


async def _reader_during_update(base_url: str, dsn: str) -> tuple[int, float, float]:
    done = asyncio.Event()
    reader = asyncio.create_task(_read_until(base_url, done))
    await asyncio.sleep(0.5)  # the reader is under way
    update_seconds = await _update(dsn, versions=True)
    done.set()
    events, seconds = await reader
    return events, seconds, update_seconds


def _start_api(dsn: str, workdir: Path) -> tuple[Popen[bytes], str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OLIST_")}
    env.update(
        OLIST_DATABASE_URL=dsn,
        OLIST_API_PORT=str(port),
        OLIST_LOG_LEVEL="WARNING",
        OLIST_API_AUTH_DISABLED="true",  # the bench measures the feed, not the key check
    )
    process: Popen[bytes] = start_process_group(
        [sys.executable, "-m", "source_api.server"], workdir / f"api-{port}.log", env
    )
    wait_for_port(port, timeout=60, process=process)
    return process, f"http://127.0.0.1:{port}"


async def _counts(dsn: str) -> tuple[int, int, int]:
    connection = await asyncpg.connect(dsn)
    try:
        items = await connection.fetchval("SELECT count(*) FROM olist.order_items")
        versions = await connection.fetchval("SELECT count(*) FROM olist.order_event_feed")
        pending = await connection.fetchval("SELECT count(*) FROM olist.order_item_changes")
        return int(items), int(versions), int(pending)
    finally:
        await connection.close()


async def run(orders: int, seed: int) -> dict[str, float | int]:
    """Generate the data, take the measurements, print the table; return the JSON summary."""
    with tempfile.TemporaryDirectory(prefix="olist-bench-bulk-") as workdir, LocalPostgres() as pg:
        await init_database(pg.dsn)
        started = time.perf_counter()
        report = await generate_dataset(pg.dsn, orders=orders, seed=seed)
        print(f"generated {report.items} items in {time.perf_counter() - started:.1f} s")
        connection = await asyncpg.connect(pg.dsn)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()
        baseline_seconds = await _update(pg.dsn, versions=False)
        api, base_url = _start_api(pg.dsn, Path(workdir))
        try:
            await _quiet_reader(base_url, 2.0)  # warm-up: pool, caches
            during_events, during_seconds, update_seconds = await _reader_during_update(
                base_url, pg.dsn
            )
            quiet_events, quiet_seconds = await _quiet_reader(base_url, during_seconds)
        finally:
            kill_process_group(api)
        items, versions, pending = await _counts(pg.dsn)
    if versions != 2 * items or pending:
        raise RuntimeError(f"expected {2 * items} versions and no pending change, got "
                           f"{versions} and {pending}")  # fmt: skip
    rows = [
        ("UPDATE of every order, triggers off (baseline)", baseline_seconds, None),
        ("UPDATE of every order with versions + COMMIT", update_seconds, None),
        ("API reader, quiet", quiet_seconds, quiet_events),
        ("API reader during the UPDATE", during_seconds, during_events),
    ]
    print(f"\n{'measurement':<48} {'seconds':>8} {'events':>9} {'events/s':>10}")
    for name, seconds, events in rows:
        rate = "" if events is None else f"{events / seconds:,.0f}"
        print(f"{name:<48} {seconds:>8.2f} {events or '':>9} {rate:>10}")
    return {
        "orders": orders,
        "items": items,
        "update_baseline_s": round(baseline_seconds, 2),
        "update_with_versions_s": round(update_seconds, 2),
        "update_ratio": round(update_seconds / baseline_seconds, 2),
        "versions_per_s": round(items / update_seconds),
        "api_quiet_events_per_s": round(quiet_events / quiet_seconds),
        "api_during_update_events_per_s": round(during_events / during_seconds),
        "api_ratio": round((during_events / during_seconds) / (quiet_events / quiet_seconds), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bulk_update", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--orders", type=int, default=100_000, help="orders generated and updated")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(json.dumps(asyncio.run(run(arguments.orders, arguments.seed))))


if __name__ == "__main__":
    main()
