"""``olist local-run``: the whole pipeline on this machine, on emulators, end to end.

PostgreSQL with generated orders -> source API -> producer -> Pub/Sub emulator -> streaming
job (short trigger) -> Parquet on fake-gcs-server + BigQuery emulator, then a few analytics
queries on what BigQuery loaded. Every component runs as its own process, started the way an
operator starts it (``olist api``, ``olist produce``, ``olist stream``), configured only
through environment variables. Nothing needs a cloud account.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from harness.processes import free_port, kill_process_group, start_process_group, wait_for_port

log = logging.getLogger(__name__)

ANALYTICS_QUERIES: dict[str, str] = {
    "Revenue by customer state and category (top 10)": """
        SELECT customer_state, product_category_name_english AS category,
               COUNT(*) AS items, SUM(price) AS revenue_brl,
               ROUND(AVG(freight_share), 3) AS avg_freight_share
        FROM `{table}`
        GROUP BY customer_state, category
        ORDER BY revenue_brl DESC
        LIMIT 10""",
    "Late deliveries by customer state (top 10 by volume)": """
        SELECT customer_state, COUNTIF(delivered_late IS NOT NULL) AS delivered_items,
               ROUND(SAFE_DIVIDE(COUNTIF(delivered_late), COUNTIF(delivered_late IS NOT NULL)), 3)
                 AS late_share,
               ROUND(AVG(delivery_time_days), 1) AS avg_delivery_days
        FROM `{table}`
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
        FROM `{table}`
        WHERE delivery_delay_days IS NOT NULL AND review_score IS NOT NULL
        GROUP BY delivery
        ORDER BY delivery""",
}


def _olist(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "olist_cli", *arguments]


def _get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {title}")
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


class LocalPipeline:
    """Starts the pipeline's servers and processes; :meth:`close` stops them all."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.logs = work_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._stack = ExitStack()
        self.env: dict[str, str] = {
            **os.environ,
            "OLIST_GCP_PROJECT": "olist-local",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }

    def close(self) -> None:
        self._stack.close()

    def start_databases(self, orders: int, seed: int) -> str:
        from emulators.postgres import LocalPostgres
        from source_api.db.generator import generate_dataset
        from source_api.db.schema import init_database

        postgres = self._stack.enter_context(LocalPostgres(data_dir=self.work_dir / "postgres"))
        self.env["OLIST_DATABASE_URL"] = postgres.dsn
        asyncio.run(init_database(postgres.dsn))
        report = asyncio.run(generate_dataset(postgres.dsn, orders=orders, seed=seed))
        print(
            f"generated {report.orders:,} orders, {report.items:,} order items "
            f"in {report.seconds:.1f} s (seed {seed})"
        )
        return postgres.dsn

    def start_process(
        self, name: str, arguments: list[str], env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        process = start_process_group(arguments, self.logs / f"{name}.log", env={**self.env, **env})
        self._stack.callback(kill_process_group, process)
        return process

    def start_api(self) -> str:
        port = free_port()
        process = self.start_process("api", _olist("api"), {"OLIST_API_PORT": str(port)})
        wait_for_port(port, timeout=60, process=process)
        url = f"http://127.0.0.1:{port}"
        self.env["OLIST_API_URL"] = url
        return url

    def start_emulators(self) -> None:
        from emulators.bigquery import BigQueryEmulator
        from emulators.gcs import FakeGcsServer
        from emulators.pubsub import PubSubEmulator

        pubsub = self._stack.enter_context(PubSubEmulator())
        gcs = self._stack.enter_context(FakeGcsServer(filesystem_root=self.work_dir / "gcs"))
        gcs.create_bucket("olist-lake")
        bigquery = self._stack.enter_context(
            BigQueryEmulator(gcs_root=gcs.filesystem_root, data_dir=self.work_dir / "bigquery")
        )
        self.env.update(
            PUBSUB_EMULATOR_HOST=pubsub.host,
            STORAGE_EMULATOR_HOST=gcs.endpoint,
            OLIST_BIGQUERY_API_ENDPOINT=bigquery.endpoint,
            OLIST_LAKE_BUCKET="olist-lake",
        )
        self.bigquery_endpoint = bigquery.endpoint
        subprocess.run(_olist("pubsub", "init"), env=self.env, check=True)

    def bigquery_client(self) -> Any:
        from emulators.bigquery import bigquery_client

        return bigquery_client(self.bigquery_endpoint)


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
    dsn = pipeline.start_databases(orders, seed)
    expected = _count_source_events(dsn)

    print("== 2/6 source API")
    api_url = pipeline.start_api()
    page = _get_json(f"{api_url}/v1/order-events?limit=2")
    print(f"{api_url}/v1/order-events?limit=2 ->")
    print(json.dumps({**page, "events": page["events"][:1]}, indent=2)[:2500])

    print("== 3/6 Pub/Sub, Cloud Storage and BigQuery emulators")
    pipeline.start_emulators()

    print(f"== 4/6 streaming job (trigger every {trigger_interval})")
    status_port = free_port()
    stream = pipeline.start_process(
        "stream",
        _olist("stream", "--trigger-interval", trigger_interval),
        {
            "OLIST_CHECKPOINT_DIR": str(pipeline.work_dir / "stream" / "checkpoint"),
            "OLIST_METRICS_PORT": str(status_port),
        },
    )
    wait_for_port(status_port, timeout=120, process=stream)

    print("== 5/6 producer: source API -> Pub/Sub")
    produced = subprocess.run(
        _olist("produce", "--once"),
        env={
            **pipeline.env,
            "OLIST_CURSOR_LOCATION": str(pipeline.work_dir / "producer" / "cursor.json"),
            "OLIST_METRICS_PORT": str(free_port()),
        },
        check=False,
    )
    if produced.returncode != 0:
        print(f"producer failed with exit code {produced.returncode}", file=sys.stderr)
        return produced.returncode

    from google.api_core.exceptions import NotFound

    client = pipeline.bigquery_client()
    table = "olist-local.olist.order_events"
    deadline = time.monotonic() + timeout
    loaded = distinct = 0
    while time.monotonic() < deadline:
        if stream.poll() is not None:
            print(f"streaming job exited early with code {stream.returncode}", file=sys.stderr)
            print(
                (pipeline.logs / "stream.log").read_text(errors="replace")[-3000:], file=sys.stderr
            )
            return 1
        try:
            counts = next(iter(client.query(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM `{table}`"
            ).result()))  # fmt: skip
            loaded, distinct = counts.n, counts.d
        except NotFound:
            log.debug("the table appears with the first batch")
        try:
            last_batch = _get_json(f"http://127.0.0.1:{status_port}/status")["last_batch_id"]
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
    os.kill(stream.pid, signal.SIGTERM)  # what Kubernetes sends to the driver (PID 1)
    stream.wait(timeout=120)
    print(f"   streaming job stopped on SIGTERM, exit code {stream.returncode}")
    if not loaded == distinct == expected:
        print(
            f"expected {expected} events exactly once in BigQuery after {timeout:.0f} s, found "
            f"{loaded} rows with {distinct} distinct event ids",
            file=sys.stderr,
        )
        return 1

    print("== 6/6 analytics in BigQuery")
    for title, sql in ANALYTICS_QUERIES.items():
        rows = [dict(row.items()) for row in client.query(sql.format(table=table)).result()]
        _print_table(title, rows)
    print(f"\nall {expected:,} source events are in BigQuery exactly once")
    return 0
