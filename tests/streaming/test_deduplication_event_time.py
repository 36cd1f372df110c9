"""The deduplication's event time is the source's ``staged_time``, not the batch's timestamp.

The job's ``dropDuplicatesWithinWatermark`` used ``current_timestamp()`` (the batch's time,
kept in the offset log) as its event time. Spark writes a literal's value into the Java it
generates and Janino's cache is keyed by that source, so every micro-batch of a running job
compiled the stage of the ~150 validation rules again (docs/operations/streaming.md#the-first-
batch-after-a-start). The event time is now a column the Pub/Sub source fills from the staged
batch's manifest: the same on a replay (tests/connectors), growing batch after batch, so the
window still bounds the state. The lake stage, built again for every batch, no longer
compiles either (its payload chunks used a Python lambda, whose variable gets a fresh name on
every call). What a batch still compiles is the watermark's predicate, whose value changes
with the watermark.

Compiles are counted with Spark's ``CodegenMetrics`` (an exact count for the whole JVM; the
session's JVM runs one test at a time).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from pyspark.sql import DataFrame

from connectors.pubsub import PubSubDataSource
from connectors.pubsub.records import STAGED_TIME_COLUMN
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT
from streaming.batch_writer import LakeTask, run_lake_tasks
from streaming.job import deduplicated_events, read_events
from streaming.lake_writer import LakeWriter
from streaming.settings import StreamSettings
from streaming.sink_rows import DEDUP_KEY, rows_for_sinks
from streaming.warmup import DiscardingLake
from tests.fixtures.source_topic import SourceTopic
from tests.streaming.test_any_payload_to_sink_rows import source_rows

EVENTS_PER_MESSAGE = 10
EVENTS_PER_BATCH = 30
BATCHES = 4
PREDICATES_PER_WATERMARK = 1
"""Classes a batch with a new watermark compiles: the deduplication's late-row predicate
(``staged_time <= watermark``), generated with the watermark's value in it."""
QUERY_TIMEOUT_SECONDS = 300


def order_events(count: int) -> list[bytes]:
    """Valid order events, each with its own event id."""
    return [
        json.dumps({**EXAMPLE_EVENT, "event_id": str(uuid.uuid4())}).encode() for _ in range(count)
    ]


def publish(topic: SourceTopic, events: list[bytes]) -> None:
    futures = []
    for first in range(0, len(events), EVENTS_PER_MESSAGE):
        chunk = events[first : first + EVENTS_PER_MESSAGE]
        message = encode_events(chunk, first + 1, first + len(chunk))
        publishing = topic.publisher.publish(topic.topic_path, message.data, **message.attributes)
        futures.append(publishing)
    for future in futures:
        future.result()


def compiled_classes(spark: Any) -> int:
    """Classes Janino compiled in this JVM so far (Spark's ``CodegenMetrics``)."""
    metrics = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics
    return int(metrics.METRIC_COMPILATION_TIME().getCount())


def offline_lake(prefix: str, partition_column: str) -> LakeWriter:
    """A lake layout whose client never connects (a :class:`DiscardingLake` uploads nothing)."""
    client = storage.Client(
        project="olist-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": "http://127.0.0.1:9"},
    )
    return LakeWriter(client, "olist-lake", prefix, partition_column)


@dataclass
class CompileCountingSink:
    """``foreachBatch``: the job's Spark work for a batch (:func:`run_lake_tasks`; its Parquet
    files are dropped), and the classes Janino compiled since the previous batch ended."""

    spark: Any
    counted: int
    lakes: tuple[LakeWriter, LakeWriter] = field(
        default_factory=lambda: (
            offline_lake("events", "purchase_date"),
            offline_lake("rejected", "rejected_date"),
        )
    )
    compiles: dict[int, int] = field(default_factory=dict)
    valid_rows: dict[int, int] = field(default_factory=dict)

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        events, rejected = self.lakes
        task = LakeTask(DiscardingLake(events), DiscardingLake(rejected), "test", batch_id)
        reports = run_lake_tasks(frame, task)
        counted = compiled_classes(self.spark)
        self.compiles[batch_id] = counted - self.counted
        self.counted = counted
        self.valid_rows[batch_id] = sum(row.rows for row in reports if row.kind == "events")


def spark_time(text: str) -> dt.datetime:
    """A time of a query's progress (``2026-12-03T07:00:00.000Z``)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_later_batches_of_a_running_query_compile_only_the_watermark_predicate(
    spark: Any, source_topic: SourceTopic, tmp_path: Path
) -> None:
    events = order_events(BATCHES * EVENTS_PER_BATCH)
    publish(source_topic, events)
    settings = StreamSettings(
        gcp_project="olist-test",
        pubsub_subscription=source_topic.subscription_path,  # PUBSUB_EMULATOR_HOST is set
        staging_location=str(tmp_path / "staging"),
        checkpoint_location=str(tmp_path / "checkpoint"),
        max_records_per_trigger=EVENTS_PER_BATCH,
        read_partitions=2,
    )
    spark.dataSource.register(PubSubDataSource)
    sink = CompileCountingSink(spark, compiled_classes(spark))

    query = (
        deduplicated_events(read_events(spark, settings), settings)
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", settings.resolved_checkpoint_location)
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(QUERY_TIMEOUT_SECONDS), "the query did not finish"
    finally:
        query.stop()
    assert query.exception() is None

    progress = {int(p.batchId): p for p in query.recentProgress}
    data_batches = [batch for batch in sorted(progress) if progress[batch].numInputRows > 0]
    assert sum(sink.valid_rows.values()) == len(events)
    assert len(data_batches) == BATCHES
    assert sorted(sink.compiles) == sorted(progress)
    watermarks = {batch: progress[batch].eventTime["watermark"] for batch in progress}
    # The first batch compiles every stage, the second may compile what only state meets;
    # a last, empty batch (Spark's, to evict with the new watermark) plans an empty input.
    for batch in data_batches[2:]:
        new_watermark = watermarks[batch] != watermarks[batch - 1]
        assert sink.compiles[batch] == (PREDICATES_PER_WATERMARK if new_watermark else 0), (
            f"batch {batch} compiled {sink.compiles[batch]} classes: {sink.compiles}"
        )
    # The event time: one staged time per batch; the watermark trails the latest by the window.
    window = dt.timedelta(seconds=settings.dedup_window_seconds)
    for previous, batch in itertools.pairwise(data_batches):
        times = progress[batch].eventTime
        assert times["min"] == times["max"]
        latest = spark_time(progress[previous].eventTime["max"])
        assert spark_time(watermarks[batch]) == latest - window
    assert all(p.stateOperators[0].numRowsDroppedByWatermark == 0 for p in progress.values())


def deduplicated_by_batch_timestamp(source: DataFrame, settings: StreamSettings) -> DataFrame:
    """The job's deduplication before ``staged_time``: the batch's timestamp as event time."""
    from pyspark.sql import functions as F

    return (
        rows_for_sinks(source)
        .drop(STAGED_TIME_COLUMN)
        .withColumn("read_at", F.current_timestamp())
        .withWatermark("read_at", settings.dedup_window)
        .dropDuplicatesWithinWatermark([DEDUP_KEY])
        .drop("read_at")
    )


def test_a_checkpoint_deduplicated_by_batch_timestamp_resumes_and_still_drops_its_copies(
    spark: Any, tmp_path: Path
) -> None:
    first, copied, later = order_events(3)
    source = tmp_path / "source"
    source.mkdir()
    checkpoint = str(tmp_path / "checkpoint")
    settings = StreamSettings()

    def run(batch: int, events: list[bytes], deduplicated: Any) -> list[Any]:
        rows = source_rows([(event, {}) for event in events])
        # Staged after the batches the old job read: the source stages in order.
        staged = pa.array([dt.datetime.now(dt.UTC)] * rows.num_rows, pa.timestamp("us", tz="UTC"))
        rows = rows.set_column(
            rows.schema.get_field_index(STAGED_TIME_COLUMN),
            rows.schema.field(STAGED_TIME_COLUMN),
            staged,
        )
        path = source / f"batch-{batch}.parquet"
        pq.write_table(rows, path)
        os.utime(path, (1_000_000 + batch, 1_000_000 + batch))  # read in this order
        stream = spark.readStream.schema(spark.createDataFrame(rows).schema).parquet(str(source))
        event_ids: list[str] = []

        def collect(frame: DataFrame, _batch_id: int) -> None:
            event_ids.extend(row.event_id for row in frame.select("event.event_id").collect())

        query = (
            deduplicated(stream, settings)
            .writeStream.foreachBatch(collect)  # the memory sink refuses a checkpoint
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start()
        )
        assert query.awaitTermination(QUERY_TIMEOUT_SECONDS), "the query did not finish"
        assert query.exception() is None
        dropped = [p.stateOperators[0] for p in query.recentProgress if p.numInputRows]
        assert [operator.numRowsDroppedByWatermark for operator in dropped] == [0]
        return sorted(event_ids)

    def event_id(event: bytes) -> str:
        return str(json.loads(event)["event_id"])

    assert run(0, [first, copied], deduplicated_by_batch_timestamp) == sorted(
        [event_id(first), event_id(copied)]
    )
    # The job upgraded: same checkpoint, the staged time as event time; the copy is dropped.
    assert run(1, [copied, later], deduplicated_events) == [event_id(later)]
