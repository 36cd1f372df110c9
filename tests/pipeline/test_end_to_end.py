"""The whole pipeline on real servers: PostgreSQL, API, producer, Pub/Sub emulator, streaming job,
fake-gcs-server and the BigQuery emulator. Every process is started as an operator starts it
(``olist api|produce|stream``) and crashed the hard way (``SIGKILL`` of its process group).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import pubsub_v1

from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from emulators.pubsub import PubSubEmulator
from harness.processes import free_port, kill_process_group, start_process_group
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT as SAMPLE
from schemas.order_event import event_id_for
from source_api.db.generator import generate_dataset
from tests.fixtures.api import ApiProcess

pytestmark = pytest.mark.slow
_names = itertools.count(1)


@dataclass
class Pipeline:
    """Names and environment of one test's pipeline (its own topic, bucket and dataset)."""

    work: Path
    env: dict[str, str]
    dataset: str
    bucket: str
    gcs: FakeGcsServer
    bigquery: BigQueryEmulator
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, *arguments: str, **env: str) -> subprocess.Popen[bytes]:
        process = start_process_group(
            [sys.executable, "-m", "olist_cli", *arguments],
            self.work / f"{name}.log",
            env={**self.env, **env},
        )
        self.processes.append(process)
        return process

    def run(self, name: str, *arguments: str, timeout: float = 300, **env: str) -> None:
        process = self.start(name, *arguments, **env)
        code = process.wait(timeout=timeout)
        assert code == 0, f"olist {' '.join(arguments)} exited {code}:\n{self.log(name)}"

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")[-6000:]

    def stream_env(self, checkpoint: str = "checkpoint", **extra: str) -> dict[str, str]:
        return {
            "OLIST_CHECKPOINT_DIR": str(self.work / checkpoint),
            "OLIST_METRICS_PORT": str(free_port()),
            "OLIST_TRIGGER_INTERVAL": "2 seconds",
            **extra,
        }

    def query(self, sql: str) -> list[dict[str, Any]]:
        client = self.bigquery.client()
        return [dict(row.items()) for row in client.query(sql).result()]

    def table(self, name: str = "order_events") -> str:
        return f"`olist-local.{self.dataset}.{name}`"

    def lake_rows(self, prefix: str = "order_events/") -> list[dict[str, Any]]:
        client = self.gcs.storage_client()
        rows: list[dict[str, Any]] = []
        for blob in client.list_blobs(self.bucket, prefix=prefix):
            if blob.name.endswith(".parquet"):
                rows += pq.read_table(io.BytesIO(blob.download_as_bytes())).to_pylist()
        return rows


@pytest.fixture
def pipeline(
    tmp_path: Path,
    database_url: str,
    pubsub_emulator: PubSubEmulator,
    gcs_server: FakeGcsServer,
    bigquery_emulator: BigQueryEmulator,
) -> Iterator[Pipeline]:
    suffix = next(_names)
    bucket = f"olist-e2e-{suffix}"
    gcs_server.create_bucket(bucket)
    env = {
        **os.environ,
        "OLIST_DATABASE_URL": database_url,
        "OLIST_GCP_PROJECT": "olist-local",
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
        "OLIST_PUBSUB_TOPIC": f"e2e-events-{suffix}",
        "OLIST_PUBSUB_SUBSCRIPTION": f"e2e-stream-{suffix}",
        "OLIST_PUBSUB_DEAD_LETTER_TOPIC": f"e2e-dead-{suffix}",
        "OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION": f"e2e-dead-inspect-{suffix}",
        "STORAGE_EMULATOR_HOST": gcs_server.endpoint,
        "OLIST_LAKE_BUCKET": bucket,
        "OLIST_BIGQUERY_API_ENDPOINT": bigquery_emulator.endpoint,
        "OLIST_BIGQUERY_DATASET": f"olist_e2e_{suffix}",
        "OLIST_CURSOR_LOCATION": str(tmp_path / "producer-cursor.json"),
    }
    result = Pipeline(tmp_path, env, f"olist_e2e_{suffix}", bucket, gcs_server, bigquery_emulator)
    result.run("pubsub-init", "pubsub", "init")
    try:
        yield result
    finally:
        for process in result.processes:
            kill_process_group(process)


def _source_aggregates(database_url: str) -> dict[str, Any]:
    async def query() -> dict[str, Any]:
        connection = await asyncpg.connect(database_url)
        try:
            row = await connection.fetchrow(
                """SELECT count(*) AS n, sum(price) AS revenue, sum(freight_value) AS freight,
                          count(*) FILTER (WHERE order_delivered_customer_date::date
                                           > order_estimated_delivery_date::date) AS late
                   FROM olist.order_events"""
            )
            by_state = await connection.fetch(
                """SELECT customer_state, sum(price) AS revenue FROM olist.order_events
                   GROUP BY customer_state"""
            )
            return {**dict(row), "by_state": {r["customer_state"]: r["revenue"] for r in by_state}}
        finally:
            await connection.close()

    return asyncio.run(query())


def _warehouse_aggregates(pipeline: Pipeline) -> dict[str, Any]:
    (row,) = pipeline.query(
        f"""SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS distinct_ids,
                   SUM(price) AS revenue, SUM(freight_value) AS freight,
                   COUNTIF(delivered_late) AS late FROM {pipeline.table()}"""
    )
    by_state = pipeline.query(
        f"SELECT customer_state, SUM(price) AS revenue FROM {pipeline.table()} "
        "GROUP BY customer_state"
    )
    return {**row, "by_state": {r["customer_state"]: r["revenue"] for r in by_state}}


def _wait_for(
    condition: Any, timeout: float, what: str, process: Any = None, interval: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}) while waiting for {what}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _loaded(pipeline: Pipeline) -> int:
    try:
        return int(pipeline.query(f"SELECT COUNT(*) AS n FROM {pipeline.table()}")[0]["n"])
    except NotFound:  # the table appears when the stream first starts
        return -1


def test_crashes_of_producer_and_stream_still_load_every_event_exactly_once(
    pipeline: Pipeline, database_url: str
) -> None:
    asyncio.run(generate_dataset(database_url, orders=400, seed=11))
    expected = _source_aggregates(database_url)
    with ApiProcess(database_url) as api:
        # Producer: small messages, slow rate, SIGKILLed mid-run, then restarted to the head.
        producer = pipeline.start(
            "producer-1", "produce", OLIST_API_URL=api.url, OLIST_EVENTS_PER_MESSAGE="10",
            OLIST_MAX_EVENTS_PER_SECOND="150", OLIST_METRICS_PORT=str(free_port()),
        )  # fmt: skip
        cursor = Path(pipeline.env["OLIST_CURSOR_LOCATION"])
        _wait_for(cursor.exists, 60, "the producer's first cursor", producer)
        time.sleep(0.5)
        os.killpg(producer.pid, signal.SIGKILL)
        producer.wait()
        assert json.loads(cursor.read_text())  # a cursor was persisted before the kill

        pipeline.run(
            "producer-2", "produce", "--once", OLIST_API_URL=api.url,
            OLIST_EVENTS_PER_MESSAGE="10", OLIST_METRICS_PORT=str(free_port()),
        )  # fmt: skip

    # Stream: batches of at most 100 rows; SIGKILL (JVM included) as soon as a batch has
    # written its first Parquet object, i.e. before BigQuery and before Spark's commit. If the
    # kill came too late for one batch (it was committed), try again on the next one.
    stream_env = pipeline.stream_env(OLIST_MAX_RECORDS_PER_TRIGGER="100")
    checkpoint = Path(stream_env["OLIST_CHECKPOINT_DIR"])
    lake = pipeline.gcs.filesystem_root / pipeline.bucket / "order_events"
    for attempt, batch in enumerate(range(1, 4)):
        stream = pipeline.start(f"stream-{attempt}", "stream", **stream_env)
        marker = f"batch={batch:012d}-"
        _wait_for(
            lambda marker=marker: any(marker in path.name for path in lake.rglob("*.parquet")),
            240, f"the first object of batch {batch}", stream, interval=0.02,
        )  # fmt: skip
        os.killpg(stream.pid, signal.SIGKILL)
        stream.wait()
        if not (checkpoint / "commits" / str(batch)).exists():
            break
    else:
        raise AssertionError("no kill landed inside a batch in 3 attempts")

    restarted = pipeline.start("stream-restarted", "stream", **stream_env)
    _wait_for(lambda: _loaded(pipeline) >= expected["n"], 300, "every event", restarted)
    time.sleep(3)  # one more trigger: nothing may arrive twice
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=120) == 0, pipeline.log("stream-restarted")
    restart_log = (pipeline.work / "stream-restarted.log").read_text()
    # The killed batch was replayed by the restarted query (same batch id, from staging).
    assert f"batch done batch_id={batch} valid=" in restart_log

    warehouse = _warehouse_aggregates(pipeline)
    assert warehouse["n"] == warehouse["distinct_ids"] == expected["n"]
    assert warehouse["revenue"] == expected["revenue"]
    assert warehouse["freight"] == expected["freight"]
    assert warehouse["late"] == expected["late"]
    assert warehouse["by_state"] == expected["by_state"]
    lake = pipeline.lake_rows()
    assert len(lake) == len({row["event_id"] for row in lake}) == expected["n"]
    assert sum(row["price"] for row in lake) == expected["revenue"]


def _status(port: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        return json.loads(response.read())


def test_poison_messages_go_to_the_dead_letter_sink_while_valid_events_flow(
    pipeline: Pipeline,
) -> None:
    topic = f"projects/olist-local/topics/{pipeline.env['OLIST_PUBSUB_TOPIC']}"
    publisher = pubsub_v1.PublisherClient()
    valid = [dict(SAMPLE, source_sequence=i + 1, order_item_id=i + 1) for i in range(5)]
    for event in valid:
        event["event_id"] = event_id_for(event["order_id"], event["order_item_id"])
    poison = [
        b"{not json",
        json.dumps({**SAMPLE, "price": "cheap", "event_id": "x"}).encode(),
        json.dumps({k: v for k, v in SAMPLE.items() if k != "customer_state"}).encode(),
        json.dumps({**SAMPLE, "schema_version": 99}).encode(),
    ]
    packed = encode_events([json.dumps(e).encode() for e in valid[:3]], 1, 3)
    publisher.publish(topic, packed.data, **packed.attributes).result()
    for payload in poison:
        publisher.publish(topic, payload).result()
    # A packed message whose declared count is wrong is rejected whole, with the reason.
    broken = encode_events([json.dumps(valid[3]).encode()], 4, 4)
    publisher.publish(topic, broken.data, **{**broken.attributes, "event_count": "2"}).result()
    later = encode_events([json.dumps(valid[4]).encode()], 5, 5)
    publisher.publish(topic, later.data, **later.attributes).result()
    publisher.publish(topic, later.data, **later.attributes).result()  # a duplicate

    env = pipeline.stream_env()
    stream = pipeline.start("stream", "stream", **env)
    port = env["OLIST_METRICS_PORT"]
    _wait_for(
        lambda: _loaded(pipeline) >= 4
        and _status(port)["totals"]["rejected_rows"] >= len(poison) + 1,
        240, "valid and rejected rows", stream,
    )  # fmt: skip
    status = _status(port)
    assert status["healthy"] is True
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert "olist_stream_rejected_rows_total 5.0" in metrics
    stream.send_signal(signal.SIGTERM)
    assert stream.wait(timeout=120) == 0, pipeline.log("stream")
    assert "query stopped cleanly" in pipeline.log("stream")

    loaded = pipeline.query(f"SELECT source_sequence FROM {pipeline.table()} ORDER BY 1")
    assert [row["source_sequence"] for row in loaded] == [1, 2, 3, 5]
    rejected = pipeline.query(
        f"SELECT raw_payload, reason FROM {pipeline.table('order_events_rejected')}"
    )
    reasons = {row["raw_payload"]: row["reason"] for row in rejected}
    assert len(rejected) == 5
    assert reasons["{not json"].startswith("payload is not a JSON object")
    assert "price: expected a number, got 'cheap'" in reasons[poison[1].decode()]
    assert "event_id: does not match" in reasons[poison[1].decode()]
    assert reasons[poison[2].decode()] == "customer_state: missing"
    assert reasons[poison[3].decode()] == "schema_version: must be one of [1], got '99'"
    envelope = [r for r in reasons.values() if r.startswith("envelope:")]
    assert envelope == ["envelope: message declares event_count=2 but carries 1 events"]
    lake_rejected = pipeline.lake_rows("rejected/")
    assert sorted(r["reason"] for r in lake_rejected) == sorted(reasons.values())
    prices = pipeline.query(f"SELECT SUM(price) AS total FROM {pipeline.table()}")
    assert prices[0]["total"] == Decimal("29.99") * 4


def test_spark_submit_runs_the_same_job_as_olist_stream(pipeline: Pipeline) -> None:
    topic = f"projects/olist-local/topics/{pipeline.env['OLIST_PUBSUB_TOPIC']}"
    events = [
        dict(SAMPLE, order_item_id=item, source_sequence=item,
             event_id=event_id_for(SAMPLE["order_id"], item))
        for item in (1, 2, 3)
    ]  # fmt: skip
    message = encode_events([json.dumps(event).encode() for event in events], 1, 3)
    pubsub_v1.PublisherClient().publish(topic, message.data, **message.attributes).result()
    spark_submit = Path(sys.executable).parent / "spark-submit"
    job = Path(__file__).resolve().parents[2] / "streaming" / "job.py"
    completed = subprocess.run(
        [str(spark_submit), "--master", "local[2]", str(job), "--available-now"],
        env={**pipeline.env, **pipeline.stream_env(), "PYSPARK_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    loaded = pipeline.query(f"SELECT order_item_id FROM {pipeline.table()} ORDER BY 1")
    assert [row["order_item_id"] for row in loaded] == [1, 2, 3]
