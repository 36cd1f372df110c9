"""Pub/Sub source inside real Spark streaming queries (``local[2]``, the Pub/Sub emulator).

Queries run with ``Trigger.AvailableNow`` so they end on their own, and write through
``foreachBatch`` into this process. While a batch runs, its staged ack ids are recorded; at
the end the test nacks them all and pulls: acknowledged messages stay gone, so an empty pull
proves everything was acknowledged (see ``SourceTopic.redeliverable``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.datasource import ReadAllAvailable

from connectors.pubsub import PubSubDataSource, PubSubOptionError, parse_options
from connectors.pubsub.reader import PubSubStreamReader
from connectors.pubsub.staging_local import LocalStagingArea
from emulators.pubsub import PubSubEmulator
from tests.fixtures.source_topic import SourceTopic, make_source_topic

QUERY_TIMEOUT_SECONDS = 120


@pytest.fixture
def topic(pubsub_emulator: PubSubEmulator) -> Iterator[SourceTopic]:
    """A fresh topic and subscription on the session emulator."""
    yield from make_source_topic(pubsub_emulator)


@dataclass
class Collected:
    """What ``foreachBatch`` saw: rows and staging times per batch id, and the ack ids staged
    meanwhile."""

    staging: LocalStagingArea
    fail_on_first_batch: bool = False
    batches: dict[int, list[tuple]] = field(default_factory=dict)
    staged_times: dict[int, set[dt.datetime]] = field(default_factory=dict)
    ack_ids: set[str] = field(default_factory=set)

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        collected = frame.collect()
        rows = sorted(
            (row.message_id, row.event_index, row.payload, row.unpack_error) for row in collected
        )
        for staged in self.staging.batches():
            self.ack_ids.update(self.staging.ack_ids(staged))
        if self.fail_on_first_batch:
            self.fail_on_first_batch = False
            batch_id = -1
        self.batches[batch_id] = rows
        self.staged_times[batch_id] = {row.staged_time for row in collected}
        if batch_id == -1:
            raise RuntimeError("sink failed before the batch was committed")

    def payloads(self) -> list[bytes]:
        return sorted(row[2] for rows in self.batches.values() for row in rows)


def run_available_now(
    spark: SparkSession,
    topic: SourceTopic,
    workdir: Path,
    sink: Callable[[DataFrame, int], None],
    **options: str,
) -> None:
    spark.dataSource.register(PubSubDataSource)
    reader = spark.readStream.format("pubsub")
    for key, value in topic.options(workdir / "staging", **options).items():
        reader = reader.option(key, value)
    query = (
        reader.load()
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(workdir / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    try:
        finished = query.awaitTermination(QUERY_TIMEOUT_SECONDS)
    finally:
        query.stop()
    assert finished, f"query did not finish within {QUERY_TIMEOUT_SECONDS} s"


def test_available_now_query_reads_every_event_once_and_acknowledges_all(
    spark: SparkSession, topic: SourceTopic, tmp_path: Path
) -> None:
    payloads = topic.publish_packed(messages=6, events_per_message=10)
    raw_id = topic.publish_raw(b"opaque payload")
    broken = topic.publish_packed(messages=1, events_per_message=3)  # count is fixed below
    broken_id = topic.publish_raw(
        b'{"x":1}\n{"x":2}', content_type="application/x-ndjson", event_count="3"
    )
    sink = Collected(LocalStagingArea(tmp_path / "staging"))

    run_available_now(spark, topic, tmp_path, sink, maxRecordsPerTrigger="25")

    rows = [row for batch in sink.batches.values() for row in batch]
    assert sink.payloads() == sorted([*payloads, *broken, b"opaque payload", b'{"x":1}\n{"x":2}'])
    assert [row for row in rows if row[0] in (raw_id, broken_id)] == sorted(
        [
            (raw_id, 0, b"opaque payload", None),
            (
                broken_id,
                0,
                b'{"x":1}\n{"x":2}',
                "message declares event_count=3 but carries 2 events",
            ),
        ]
    )
    assert max(len(batch) for batch in sink.batches.values()) <= 25  # max() of none raises
    assert sorted(sink.batches) == list(range(len(sink.batches)))
    assert LocalStagingArea(tmp_path / "staging").batches() == []
    assert len(sink.ack_ids) == 9
    # The final batch too: Spark 4.3 calls latestOffset once more before ending the run.
    stats = LocalStagingArea(tmp_path / "staging").read_stats()
    assert stats["acknowledged_messages"] == 9
    assert stats["last_acknowledged_batch"] == len(sink.batches) > 1
    assert topic.redeliverable(sorted(sink.ack_ids), expected=0) == []


def test_failed_batch_leaves_its_messages_unacknowledged(
    spark: SparkSession, topic: SourceTopic, tmp_path: Path
) -> None:
    topic.publish_packed(messages=3, events_per_message=4)
    sink = Collected(LocalStagingArea(tmp_path / "staging"), fail_on_first_batch=True)

    with pytest.raises(StreamingQueryException, match="sink failed"):
        run_available_now(spark, topic, tmp_path, sink)

    assert len(sink.batches[-1]) == 12
    assert LocalStagingArea(tmp_path / "staging").batches() == [1]
    assert topic.redeliverable(sorted(sink.ack_ids), expected=3) == sorted(topic.published_ids)


def test_restart_after_failed_batch_replays_exactly_the_same_rows_once(
    spark: SparkSession, topic: SourceTopic, tmp_path: Path
) -> None:
    payloads = topic.publish_packed(messages=4, events_per_message=5)
    sink = Collected(LocalStagingArea(tmp_path / "staging"), fail_on_first_batch=True)
    with pytest.raises(StreamingQueryException, match="sink failed"):
        run_available_now(spark, topic, tmp_path, sink, ackDeadlineSeconds="60")
    failed_attempt = sink.batches.pop(-1)
    failed_attempt_staged_times = sink.staged_times.pop(-1)

    run_available_now(spark, topic, tmp_path, sink, ackDeadlineSeconds="60")

    assert sink.batches[0] == failed_attempt
    # The watermark's event time too: one value, the same as the failed attempt's.
    assert len(failed_attempt_staged_times) == 1
    assert sink.staged_times[0] == failed_attempt_staged_times
    assert sink.payloads() == sorted(payloads)
    assert LocalStagingArea(tmp_path / "staging").batches() == []
    assert topic.redeliverable(sorted(sink.ack_ids), expected=0) == []


def test_restart_reads_a_staged_batch_the_offset_log_never_recorded_once(
    spark: SparkSession, topic: SourceTopic, tmp_path: Path
) -> None:
    first = topic.publish_packed(messages=2, events_per_message=3)
    sink = Collected(LocalStagingArea(tmp_path / "staging"))
    run_available_now(spark, topic, tmp_path, sink)
    assert sink.payloads() == sorted(first)
    last_offset = len(sink.batches)

    # A driver that staged the next batch and died before Spark logged its offset.
    second = topic.publish_packed(messages=3, events_per_message=3)
    orphan = PubSubStreamReader(parse_options(topic.options(tmp_path / "staging")))
    assert orphan.latestOffset({"batch": last_offset}, ReadAllAvailable()) == {
        "batch": last_offset + 1
    }
    orphan.leases.stop()  # the driver process dies (never stop(): Spark does not call it)

    second_sink = Collected(LocalStagingArea(tmp_path / "staging"))
    run_available_now(spark, topic, tmp_path, second_sink)

    assert second_sink.payloads() == sorted(second)
    assert LocalStagingArea(tmp_path / "staging").batches() == []
    assert topic.redeliverable(sorted(second_sink.ack_ids), expected=0) == []


def test_bad_option_fails_when_the_stream_is_defined(
    spark: SparkSession, topic: SourceTopic, tmp_path: Path
) -> None:
    spark.dataSource.register(PubSubDataSource)
    with pytest.raises(Exception, match="option 'maxRecordsPerTrigger': expected an integer"):
        (
            spark.readStream.format("pubsub")
            .option("subscription", topic.subscription_path)
            .option("stagingLocation", str(tmp_path))
            .option("maxRecordsPerTrigger", "lots")
            .load()
        )
    assert issubclass(PubSubOptionError, ValueError)
