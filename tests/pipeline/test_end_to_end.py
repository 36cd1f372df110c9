"""The whole pipeline on real servers: PostgreSQL, API, producer, Pub/Sub emulator, streaming job,
fake-gcs-server and the BigQuery emulator. Every process is started as an operator starts it
(``olist api|produce|stream``) and crashed the hard way (``SIGKILL`` of its process group).
The ``pipeline`` fixture (tests/fixtures/pipeline.py) runs them on the session's servers.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
import time
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from google.cloud import pubsub_v1

from harness.pipeline import LocalPipeline
from harness.processes import free_port, wait_until
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT as SAMPLE
from schemas.order_event import event_id_for, item_key_for
from source_db.csv.values import timestamp as sao_paulo_time
from source_db.synthetic.generator import generate_dataset
from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_order

pytestmark = pytest.mark.slow


def _source_aggregates(database_url: str) -> dict[str, Any]:
    async def query() -> dict[str, Any]:
        connection = await asyncpg.connect(database_url)
        try:
            row = await connection.fetchrow(
                """SELECT count(*) AS n, sum(price) AS revenue, sum(freight_value) AS freight,
                          count(*) FILTER (
                              WHERE (order_delivered_customer_date AT TIME ZONE
                                     'America/Sao_Paulo')::date
                                  > (order_estimated_delivery_date AT TIME ZONE
                                     'America/Sao_Paulo')::date) AS late
                   FROM olist.order_events"""
            )
            by_state = await connection.fetch(
                """SELECT customer_state, sum(price) AS revenue FROM olist.order_events
                   GROUP BY customer_state"""
            )
            assert row is not None
            return {**dict(row), "by_state": {r["customer_state"]: r["revenue"] for r in by_state}}
        finally:
            await connection.close()

    return asyncio.run(query())


def _warehouse_aggregates(pipeline: LocalPipeline) -> dict[str, Any]:
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


def _publish_copies(
    tap: pubsub_v1.SubscriberClient, subscription: str, topic: str, messages: int
) -> int:
    """Publish again ``messages`` messages the producer published; returns their events."""
    received: list[Any] = []
    while len(received) < messages:
        response = tap.pull(subscription=subscription, max_messages=messages - len(received))
        received.extend(response.received_messages)
    publisher = pubsub_v1.PublisherClient()
    for item in received:
        attributes = dict(item.message.attributes)
        publisher.publish(topic, item.message.data, **attributes).result()
    tap.delete_subscription(subscription=subscription)
    return sum(int(item.message.attributes["event_count"]) for item in received)


def test_crashes_of_producer_and_stream_still_load_every_event_exactly_once(
    pipeline: LocalPipeline, database_url: str
) -> None:
    asyncio.run(generate_dataset(database_url, orders=400, seed=11))
    expected = _source_aggregates(database_url)
    # A second subscription sees every message published, so the test can publish copies of
    # some: duplicates for certain (the producer's crash makes some only by chance).
    topic = f"projects/olist-local/topics/{pipeline.env['OLIST_PUBSUB_TOPIC']}"
    tap = pubsub_v1.SubscriberClient()
    tap_subscription = tap.create_subscription(
        name=topic.replace("/topics/", "/subscriptions/") + "-tap", topic=topic
    ).name
    with ApiProcess(database_url) as api:
        # Producer: small messages, slow rate, SIGKILLed mid-run, then restarted to the head.
        producer = pipeline.start(
            "producer-1", "produce", OLIST_API_URL=api.url, OLIST_EVENTS_PER_MESSAGE="10",
            OLIST_MAX_EVENTS_PER_SECOND="150", OLIST_METRICS_PORT=str(free_port()),
        )  # fmt: skip
        cursor = Path(pipeline.env["OLIST_CURSOR_LOCATION"])
        wait_until(cursor.exists, 60, "the producer's first cursor", producer)
        time.sleep(0.5)
        pipeline.crash(producer)
        assert json.loads(cursor.read_text())  # a cursor was persisted before the kill

        pipeline.run(
            "producer-2", "produce", "--once", OLIST_API_URL=api.url,
            OLIST_EVENTS_PER_MESSAGE="10", OLIST_METRICS_PORT=str(free_port()),
        )  # fmt: skip
    copied_events = _publish_copies(tap, tap_subscription, topic, messages=5)

    # Stream: batches of at most 100 rows; SIGKILL (JVM included) as soon as a batch has
    # written its first Parquet object, i.e. before BigQuery and before Spark's commit. If the
    # kill came too late for one batch (it was committed), try again on the next one.
    stream_env = pipeline.stream_env(OLIST_MAX_RECORDS_PER_TRIGGER="100")
    checkpoint = Path(stream_env["OLIST_CHECKPOINT_DIR"])
    assert pipeline.gcs is not None
    lake = pipeline.gcs.bucket_path(pipeline.bucket) / "order_events"
    for attempt, batch in enumerate(range(1, 4)):
        stream = pipeline.start(f"stream-{attempt}", "stream", **stream_env)

        def first_object_written(marker: str = f"batch={batch:012d}-") -> bool:
            return any(marker in path.name for path in lake.rglob("*.parquet"))

        wait_until(
            first_object_written, 240, f"the first object of batch {batch}", stream, interval=0.02
        )
        pipeline.crash(stream)
        if not (checkpoint / "commits" / str(batch)).exists():
            break
    else:
        raise AssertionError("no kill landed inside a batch in 3 attempts")

    restarted = pipeline.start("stream-restarted", "stream", **stream_env)
    wait_until(lambda: pipeline.count_loaded().rows >= expected["n"], 300, "every event", restarted)
    # A marker published once every event is loaded: when the batch holding it is committed
    # (seen in the query's progress), a whole trigger ran after loading. (Spark 4 reports an
    # idle trigger as QueryIdleEvent, without progress, so the marker makes one that is seen.)
    port = stream_env["OLIST_METRICS_PORT"]
    pubsub_v1.PublisherClient().publish(topic, b"marker, not an event").result()

    def marker_batch_committed() -> bool:
        status = pipeline.stream_status(port)
        written = (status["last_batch"] or {}).get("batch_id")
        committed = (status["last_progress"] or {}).get("batch_id")
        return status["totals"]["rejected_rows"] == 1 and committed == written

    wait_until(marker_batch_committed, 240, "the marker's batch committed", restarted)
    assert pipeline.terminate(restarted) == 0, pipeline.log("stream-restarted")
    restart_log = pipeline.log_path("stream-restarted").read_text()
    # The killed batch was replayed by the restarted query (same batch id, from staging).
    assert f"batch done batch_id={batch} valid=" in restart_log

    # Duplicates were really read (the copies at least), and removed.
    input_rows = sum(
        int(match)
        for path in pipeline.logs.glob("stream-*.log")
        for match in re.findall(r"batch committed batch_id=\S+ input_rows=(\d+)", path.read_text())
    )
    assert input_rows >= expected["n"] + copied_events > expected["n"]
    warehouse = _warehouse_aggregates(pipeline)
    assert warehouse["n"] == warehouse["distinct_ids"] == expected["n"]
    assert warehouse["revenue"] == expected["revenue"]
    assert warehouse["freight"] == expected["freight"]
    assert warehouse["late"] == expected["late"]
    assert warehouse["by_state"] == expected["by_state"]
    lake_rows = pipeline.lake_rows()
    assert len(lake_rows) == len({row["event_id"] for row in lake_rows}) == expected["n"]
    assert sum(row["price"] for row in lake_rows) == expected["revenue"]


def test_poison_messages_go_to_the_dead_letter_sink_while_valid_events_flow(
    pipeline: LocalPipeline,
) -> None:
    topic = f"projects/olist-local/topics/{pipeline.env['OLIST_PUBSUB_TOPIC']}"
    publisher = pubsub_v1.PublisherClient()
    valid = [dict(SAMPLE, source_sequence=i + 1, order_item_id=i + 1) for i in range(5)]
    for event in valid:
        event["event_id"] = event_id_for(event["order_id"], event["order_item_id"], 1)
        event["item_key"] = item_key_for(event["order_id"], event["order_item_id"])
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
    wait_until(
        lambda: pipeline.count_loaded().rows >= 4
        and pipeline.stream_status(port)["totals"]["rejected_rows"] >= len(poison) + 1,
        240, "valid and rejected rows", stream,
    )  # fmt: skip
    status = pipeline.stream_status(port)
    assert status["healthy"] is True
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert "olist_stream_rejected_rows_total 5.0" in metrics
    assert pipeline.terminate(stream) == 0, pipeline.log("stream")
    assert "query stopped cleanly" in pipeline.log("stream")

    loaded = pipeline.query(f"SELECT source_sequence FROM {pipeline.table()} ORDER BY 1")
    assert [row["source_sequence"] for row in loaded] == [1, 2, 3, 5]
    rejected = pipeline.query(
        f"SELECT raw_payload, reason FROM {pipeline.table('order_events_rejected')}"
    )
    reasons = {row["raw_payload"].decode(): row["reason"] for row in rejected}
    assert len(rejected) == 5
    assert reasons["{not json"].startswith("payload is not a JSON object")
    assert "price: expected a number, got 'cheap'" in reasons[poison[1].decode()]
    assert "event_id: does not match" in reasons[poison[1].decode()]
    assert reasons[poison[2].decode()] == "customer_state: missing"
    assert reasons[poison[3].decode()] == "schema_version: must be one of [1, 2], got '99'"
    envelope = [r for r in reasons.values() if r.startswith("envelope:")]
    assert envelope == ["envelope: message declares event_count=2 but carries 1 events"]
    lake_rejected = pipeline.lake_rows("rejected/")
    assert sorted(r["reason"] for r in lake_rejected) == sorted(reasons.values())
    prices = pipeline.query(f"SELECT SUM(price) AS total FROM {pipeline.table()}")
    assert prices[0]["total"] == Decimal("29.99") * 4


def test_an_order_at_23_30_in_sao_paulo_lands_in_that_days_partition_through_spark_submit(
    pipeline: LocalPipeline, database_url: str
) -> None:
    # Olist times are São Paulo wall-clock times, read as such by the CSV loader's parser:
    # 23:30 on 2018-03-09 there (UTC-3) is 02:30 UTC on the 10th. Delivered at 23:10 on the
    # promised day there, which is already the next day in UTC: on time.
    purchased = sao_paulo_time("2018-03-09 23:30:00")
    promised = sao_paulo_time("2018-03-20 00:00:00")
    delivered = sao_paulo_time("2018-03-20 23:10:00")

    async def write_order() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            async with connection.transaction():
                items = await insert_order(connection, random.Random(2330))
                await connection.execute(
                    "UPDATE olist.orders SET order_status = 'delivered', "
                    "order_purchase_timestamp = $1, order_approved_at = $1, "
                    "order_estimated_delivery_date = $2, order_delivered_customer_date = $3",
                    purchased, promised, delivered,
                )  # fmt: skip
            return items
        finally:
            await connection.close()

    items = asyncio.run(write_order())
    with ApiProcess(database_url) as api:
        pipeline.run(
            "producer", "produce", "--once", OLIST_API_URL=api.url,
            OLIST_METRICS_PORT=str(free_port()),
        )  # fmt: skip
    # spark-submit runs the same job as `olist stream` (one JVM proves both claims).
    spark_submit = Path(sys.executable).parent / "spark-submit"
    job = Path(__file__).resolve().parents[2] / "streaming" / "job.py"
    completed = subprocess.run(
        [str(spark_submit), "--master", "local[2]", str(job), "--available-now"],
        env={**pipeline.env, **pipeline.stream_env(), "PYSPARK_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]

    rows = pipeline.query(
        f"SELECT purchase_date, delivered_late, order_purchase_timestamp FROM {pipeline.table()}"
    )
    assert len(rows) == items
    assert {row["purchase_date"] for row in rows} == {date(2018, 3, 9)}
    assert {row["delivered_late"] for row in rows} == {False}
    assert {row["order_purchase_timestamp"] for row in rows} == {purchased}
    assert {str(row["purchase_date"]) for row in pipeline.lake_rows()} == {"2018-03-09"}
