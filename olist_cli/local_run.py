"""``olist local-run``: the whole pipeline on this machine, on emulators, end to end.

PostgreSQL with generated orders -> source API -> producer -> Pub/Sub emulator -> streaming
job (short trigger) -> Parquet on fake-gcs-server + BigQuery emulator, then a few analytics
queries on what BigQuery loaded. Every component runs as its own process, started the way an
operator starts it (``olist api``, ``olist produce``, ``olist stream``), configured only
through environment variables (:class:`harness.pipeline.LocalPipeline` starts them, as it does
for the end-to-end tests). Nothing needs a cloud account.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analytics.formatting import cell
from harness.pipeline import LocalPipeline, get_json
from harness.processes import free_port, wait_for_port

ANALYTICS_QUERIES: dict[str, str] = {
    "Revenue by customer state and category (top 10)": """
        SELECT customer_state, product_category_name_english AS category,
               COUNT(*) AS items, SUM(price) AS revenue_brl,
               ROUND(AVG(freight_share), 3) AS avg_freight_share
        FROM {table}
        GROUP BY customer_state, category
        ORDER BY revenue_brl DESC
        LIMIT 10""",
    "Late deliveries by customer state (top 10 by volume)": """
        SELECT customer_state, COUNTIF(delivered_late IS NOT NULL) AS delivered_items,
               ROUND(SAFE_DIVIDE(COUNTIF(delivered_late), COUNTIF(delivered_late IS NOT NULL)), 3)
                 AS late_share,
               ROUND(AVG(delivery_time_days), 1) AS avg_delivery_days
        FROM {table}
        GROUP BY customer_state
        ORDER BY delivered_items DESC
        LIMIT 10""",
    "Review score against delivery delay": """
        SELECT CASE
                 WHEN delivery_delay_days <= -7 THEN '1: a week early or more'
                 WHEN delivery_delay_days <= 0 THEN '2: on time'
                 WHEN delivery_delay_days <= 7 THEN '3: up to a week late'
                 ELSE '4: more than a week late' END AS delivery,
               COUNT(*) AS items, ROUND(AVG(review_score), 2) AS avg_review_score
        FROM {table}
        WHERE delivery_delay_days IS NOT NULL AND review_score IS NOT NULL
        GROUP BY delivery
        ORDER BY delivery""",
}


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {title}")
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    cells = [[cell(c, row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fill_database(pipeline: LocalPipeline, orders: int, seed: int) -> str:
    from source_db.ddl import init_database
    from source_db.synthetic.generator import generate_dataset

    dsn = pipeline.start_postgres(data_dir=pipeline.work_dir / "postgres").dsn
    asyncio.run(init_database(dsn))
    report = asyncio.run(generate_dataset(dsn, orders=orders, seed=seed))
    print(
        f"generated {report.orders:,} orders, {report.items:,} order items "
        f"in {report.seconds:.1f} s (seed {seed})"
    )
    return dsn


def _count_source_events(dsn: str) -> int:
    import asyncpg

    async def count() -> int:
        connection = await asyncpg.connect(dsn)
        try:
            return int(await connection.fetchval("SELECT count(*) FROM olist.order_events"))
        finally:
            await connection.close()

    return asyncio.run(count())


@contextmanager
def _work_directory(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir(parents=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="olist-local-run-") as directory:
        yield Path(directory)


def run_local_pipeline(
    orders: int, seed: int, trigger_interval: str, timeout: float, keep: Path | None
) -> int:
    """Run everything, print sample data and analytics; returns the process exit code."""
    with _work_directory(keep) as work_dir:
        pipeline = LocalPipeline(work_dir)
        try:
            return _run(pipeline, orders, seed, trigger_interval, timeout)
        finally:
            pipeline.close()
            if keep is not None:
                print(f"\nlogs and data kept in {work_dir}")


def _run(
    pipeline: LocalPipeline, orders: int, seed: int, trigger_interval: str, timeout: float
) -> int:
    print("== 1/6 PostgreSQL with generated Olist data")
    dsn = _fill_database(pipeline, orders, seed)
    expected = _count_source_events(dsn)

    print("== 2/6 source API")
    api_url = pipeline.start_api()
    page = get_json(
        f"{api_url}/v1/order-events?limit=2",
        headers={"X-API-Key": pipeline.variables["OLIST_API_KEY"]},
    )
    print(f"{api_url}/v1/order-events?limit=2 ->")
    print(json.dumps({**page, "events": page["events"][:1]}, indent=2)[:2500])

    print("== 3/6 Pub/Sub, Cloud Storage and BigQuery emulators")
    pipeline.start_emulators(bigquery_data_dir=pipeline.work_dir / "bigquery")
    pipeline.run("setup", "setup", timeout=None, terminal=True)

    print(f"== 4/6 streaming job (trigger every {trigger_interval})")
    stream_env = pipeline.stream_env("stream/checkpoint")
    status_port = stream_env["OLIST_METRICS_PORT"]
    stream = pipeline.start(
        "stream", "stream", "--trigger-interval", trigger_interval, **stream_env
    )
    wait_for_port(int(status_port), timeout=120, process=stream)

    print("== 5/6 producer: source API -> Pub/Sub")
    produced = pipeline.run(
        "producer", "produce", "--once", timeout=None, check=False, terminal=True,
        OLIST_CURSOR_LOCATION=str(pipeline.work_dir / "producer" / "cursor.json"),
        OLIST_METRICS_PORT=str(free_port()),
    )  # fmt: skip
    if produced != 0:
        print(f"producer failed with exit code {produced}", file=sys.stderr)
        return produced

    deadline = time.monotonic() + timeout
    loaded = distinct = 0
    while time.monotonic() < deadline:
        if stream.poll() is not None:
            print(f"streaming job exited early with code {stream.returncode}", file=sys.stderr)
            print(pipeline.log("stream", 3000), file=sys.stderr)
            return 1
        loaded, distinct = pipeline.count_loaded()  # zeros until the first batch makes the table
        try:
            last_batch = pipeline.stream_status(status_port)["last_batch_id"]
        except OSError as error:  # the job may be restarting its HTTP server; poll() tells
            last_batch = f"unknown ({error})"
        print(
            f"   source events {expected:,}  loaded in BigQuery {loaded:,}  "
            f"last batch {last_batch}",
            flush=True,
        )
        if loaded >= expected:
            break
        time.sleep(5)
    code = pipeline.terminate(stream)  # SIGTERM: what Kubernetes sends to the driver (PID 1)
    print(f"   streaming job stopped on SIGTERM, exit code {code}")
    if not loaded == distinct == expected:
        print(
            f"expected {expected} events exactly once in BigQuery after {timeout:.0f} s, found "
            f"{loaded} rows with {distinct} distinct event ids",
            file=sys.stderr,
        )
        return 1

    print("== 6/6 analytics in BigQuery: dimensions, views, dashboard")
    pipeline.run("export-dimensions", "export-dimensions", timeout=None, terminal=True)
    pipeline.run("create-views", "create-views", timeout=None, terminal=True)
    for title, sql in ANALYTICS_QUERIES.items():
        _print_table(title, pipeline.query(sql.format(table=pipeline.table("order_items_current"))))
    print("\ndashboard (open in a browser):", flush=True)
    dashboard = Path(".local/dashboard").resolve()  # outlives the run's temporary directory
    pipeline.run("dashboard", "dashboard", "--out", str(dashboard), timeout=None, terminal=True)
    print(f"\nall {expected:,} source events are in BigQuery exactly once")
    return 0
