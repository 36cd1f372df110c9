"""Throughput of the source API against raw database reads of the same rows.

``python -m bench.api --events 1000000`` starts its own PostgreSQL, fills it with about that
many order-item events using the synthetic generator (``source_db.synthetic.generator``), renders
them into the pre-rendered feed (timed on its own: the one-time cost of each event), starts
the API as a subprocess and reads every event, in the same run, these ways:

1. **API over HTTP**: ``GET /v1/order-events?limit=5000`` page by page with one keep-alive
   httpx client, each page parsed with orjson (what a consumer does); read-ahead on (default).
2. **API over HTTP, read-ahead off** (``OLIST_API_READ_AHEAD_PAGES=0``), to show what it buys.
3. **raw asyncpg keyset on the view, typed rows**: the first baseline, the read the API did
   before the feed existed. The same keyset query on ``olist.order_events`` fetched as asyncpg
   records; no HTTP, no JSON.
4. **raw asyncpg keyset on the feed**: the second baseline, the API's page query
   (``source_sequence, event_json`` of ``olist.order_event_feed``) with no HTTP and no splicing.
5. **API page function in-process**: ``source_api.queries.fetch_event_page`` without HTTP.

The table also shows the CPU seconds spent by the PostgreSQL backends, the API process and the
client (from ``/proc/<pid>/stat``, :mod:`bench.process_usage`): on a shared machine total CPU
is what the other processes leave, so it says more than wall-clock time. Prints the table,
then, as the last line, one JSON object:
``{"events": N, "api_events_per_s": ..., "raw_db_events_per_s": ..., ...}``.

The figures it measured, with their dates, machine and load, and what they decided, are in
docs/operations/source-api.md#performance.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import asyncpg
import httpx
import orjson

from bench.process_usage import cpu_seconds
from bench.source_data import fill_source_database
from emulators.postgres import LocalPostgres
from harness.processes import free_port, kill_process_group, start_process_group, wait_for_port
from schemas import EVENT_FIELDS
from schemas.log_format import configure_logging
from source_api.queries import fetch_event_page
from source_db.feed import refresh_feed

log = logging.getLogger("bench.api")

PAGE_SIZE = 5000
_SELECT = f"SELECT {', '.join(EVENT_FIELDS)} FROM olist.order_events"
ROWS_SQL = f"{_SELECT} WHERE source_sequence > $1 ORDER BY source_sequence LIMIT $2"
FEED_SQL = (
    "SELECT source_sequence, event_json FROM olist.order_event_feed "
    "WHERE source_sequence > $1 ORDER BY source_sequence LIMIT $2"
)


@dataclass(frozen=True)
class Measurement:
    """One way of reading every event."""

    name: str
    events: int
    seconds: float
    database_cpu_seconds: float | None = None
    api_cpu_seconds: float | None = None
    client_cpu_seconds: float | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


async def _render_feed(dsn: str) -> Measurement:
    """Render the whole feed again (the generator did it once) and measure what it costs."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("TRUNCATE olist.order_event_feed")
        await connection.execute("CHECKPOINT")  # the truncated pages are not flushed mid-run
        pid = connection.get_server_pid()
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        events = await refresh_feed(connection)
        seconds = time.perf_counter() - started
        measurement = Measurement(
            "render the feed (refresh_order_event_feed)", events, seconds,
            database_cpu_seconds=cpu_seconds(pid) - cpu_before,
        )  # fmt: skip
        await connection.execute("VACUUM ANALYZE olist.order_event_feed")
        return measurement
    finally:
        await connection.close()


async def _read_api(base_url: str) -> int:
    events = last_sequence = 0
    after: str | None = None
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        while True:
            params: dict[str, str | int] = {"limit": PAGE_SIZE}
            if after is not None:
                params["after"] = after
            response = await client.get("/v1/order-events", params=params)
            response.raise_for_status()
            page = orjson.loads(response.content)
            if page["events"]:
                first = page["events"][0]["source_sequence"]
                if first <= last_sequence:
                    raise RuntimeError(f"sequence went back from {last_sequence} to {first}")
                last_sequence = page["events"][-1]["source_sequence"]
            events += len(page["events"])
            after = page["next_cursor"]
            if not page["has_more"]:
                return events


async def _in_process(
    name: str, dsn: str, read: Callable[[asyncpg.Connection], Awaitable[int]]
) -> Measurement:
    connection = await asyncpg.connect(dsn, server_settings={"TimeZone": "UTC"})
    try:
        pid = connection.get_server_pid()
        cpu_before, client_before = cpu_seconds(pid), time.process_time()
        started = time.perf_counter()
        events = await read(connection)
        seconds = time.perf_counter() - started
        return Measurement(
            name, events, seconds, database_cpu_seconds=cpu_seconds(pid) - cpu_before,
            client_cpu_seconds=time.process_time() - client_before,
        )  # fmt: skip
    finally:
        await connection.close()


async def _read_raw_rows(connection: asyncpg.Connection) -> int:
    statement = await connection.prepare(ROWS_SQL)
    events = last_sequence = 0
    while rows := await statement.fetch(last_sequence, PAGE_SIZE):
        events += len(rows)
        last_sequence = rows[-1]["source_sequence"]
    return events


async def _read_api_pages(connection: asyncpg.Connection) -> int:
    events = last_sequence = 0
    while True:
        page = await fetch_event_page(connection, last_sequence, PAGE_SIZE)
        if page.last_sequence is None:
            return events
        events += page.event_count
        last_sequence = page.last_sequence


async def _read_feed_rows(connection: asyncpg.Connection) -> int:
    statement = await connection.prepare(FEED_SQL)
    events = last_sequence = 0
    while rows := await statement.fetch(last_sequence, PAGE_SIZE):
        events += len(rows)
        last_sequence = rows[-1]["source_sequence"]
    return events


async def _measure_api(name: str, dsn: str, workdir: Path, read_ahead_pages: int) -> Measurement:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OLIST_")}
    env.update(
        OLIST_DATABASE_URL=dsn,
        OLIST_API_PORT=str(port),
        OLIST_LOG_LEVEL="WARNING",
        OLIST_API_AUTH_DISABLED="true",  # the bench measures reads, not the key check
        OLIST_API_READ_AHEAD_PAGES=str(read_ahead_pages),
    )
    process: Popen[bytes] = start_process_group(
        [sys.executable, "-m", "source_api.server"], workdir / f"api-{port}.log", env
    )
    try:
        wait_for_port(port, timeout=60, process=process)
        async with httpx.AsyncClient() as client:  # opens the pool's connections
            (await client.get(f"http://127.0.0.1:{port}/readyz")).raise_for_status()
        backends = await _api_backends(dsn)
        database_before = sum(map(cpu_seconds, backends))
        api_before, client_before = cpu_seconds(process.pid), time.process_time()
        started = time.perf_counter()
        events = await _read_api(f"http://127.0.0.1:{port}")
        seconds = time.perf_counter() - started
        new_backends = set(await _api_backends(dsn)) - set(backends)
        return Measurement(
            name, events, seconds,
            database_cpu_seconds=sum(map(cpu_seconds, [*backends, *new_backends]))
            - database_before,
            api_cpu_seconds=cpu_seconds(process.pid) - api_before,
            client_cpu_seconds=time.process_time() - client_before,
        )  # fmt: skip
    finally:
        kill_process_group(process)


async def _api_backends(dsn: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'olist-source-api'"
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


async def run(events: int, seed: int) -> dict[str, float | int]:
    """Generate the data, take every measurement, print the table; return the JSON summary."""
    with tempfile.TemporaryDirectory(prefix="olist-bench-api-") as workdir, LocalPostgres() as pg:
        started = time.perf_counter()
        total = await fill_source_database(pg.dsn, events, seed)
        print(f"generated {total} events in {time.perf_counter() - started:.1f} s", flush=True)
        render = await _render_feed(pg.dsn)
        # One untimed pass of each source so every measurement finds its pages in shared
        # buffers (the OS page cache, beyond them).
        await _in_process("warm-up", pg.dsn, _read_raw_rows)
        await _in_process("warm-up", pg.dsn, _read_feed_rows)
        measurements = [
            await _measure_api("API over HTTP (read-ahead on)", pg.dsn, Path(workdir), 2),
            await _measure_api("API over HTTP (read-ahead off)", pg.dsn, Path(workdir), 0),
            await _in_process("raw asyncpg keyset on the view", pg.dsn, _read_raw_rows),
            await _in_process("raw asyncpg keyset on the feed", pg.dsn, _read_feed_rows),
            await _in_process("API page function, no HTTP", pg.dsn, _read_api_pages),
        ]
    for measurement in [render, *measurements]:
        if measurement.events != total:
            raise RuntimeError(f"{measurement.name} read {measurement.events} of {total} events")
    print(f"\n{'method (page size 5000)':<44} {'events':>9} {'seconds':>8} {'events/s':>10} "
          f"{'db cpu s':>9} {'api cpu s':>9} {'client cpu s':>12}")  # fmt: skip
    for item in [*measurements, render]:
        cpu = [
            "" if value is None else f"{value:.1f}"
            for value in (item.database_cpu_seconds, item.api_cpu_seconds, item.client_cpu_seconds)
        ]
        print(f"{item.name:<44} {item.events:>9} {item.seconds:>8.1f} "
              f"{item.events_per_second:>10,.0f} {cpu[0]:>9} {cpu[1]:>9} {cpu[2]:>12}")  # fmt: skip
    api, api_no_read_ahead, raw, feed, api_pages = measurements
    return {
        "events": total,
        "api_events_per_s": round(api.events_per_second),
        "raw_db_events_per_s": round(raw.events_per_second),
        "ratio": round(api.events_per_second / raw.events_per_second, 3),
        "raw_feed_events_per_s": round(feed.events_per_second),
        "ratio_to_feed": round(api.events_per_second / feed.events_per_second, 3),
        "api_no_read_ahead_events_per_s": round(api_no_read_ahead.events_per_second),
        "api_page_function_events_per_s": round(api_pages.events_per_second),
        "feed_render_events_per_s": round(render.events_per_second),
        "feed_render_db_cpu_us_per_event": round(
            1e6 * (render.database_cpu_seconds or 0.0) / render.events, 1
        ),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many events")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result = asyncio.run(run(arguments.events, arguments.seed))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
