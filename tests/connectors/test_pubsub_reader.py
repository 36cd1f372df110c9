"""Pub/Sub source driver logic against the real emulator, without Spark.

Each test drives :class:`PubSubStreamReader` the way Spark does (``latestOffset``,
``partitions``, ``read``, ``commit``), then checks the subscription itself. Whether a message
is still unacknowledged is checked without waiting for a lease to run out: the test sends a
``modifyAckDeadline 0`` (nack) for the staged ack ids and pulls; an acknowledged message stays
gone, an unacknowledged one comes straight back.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from typing import cast

import pyarrow as pa
import pytest
from google.cloud import pubsub_v1
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from connectors.pubsub import parse_options
from connectors.pubsub.leases import LeaseKeeper
from connectors.pubsub.reader import PubSubStreamReader
from connectors.pubsub.records import output_arrow_schema
from connectors.pubsub.subscriber import Subscriber
from tests.fixtures.source_topic import ACK_DEADLINE_SECONDS, SourceTopic


def abandon(reader: PubSubStreamReader) -> None:
    """What the death of the driver's Python process does to a reader: its lease thread stops.

    Never ``stop()``: Spark does not call it (the process is killed), and it hands pending
    messages back, which a crash does not. Nothing is sent; leases lapse on their own.
    """
    reader.leases.stop()


@pytest.fixture
def readers() -> Iterator[list[PubSubStreamReader]]:
    """Readers made by a test; abandoned at the end like a dying driver process."""
    made: list[PubSubStreamReader] = []
    yield made
    for reader in made:
        abandon(reader)


def new_reader(
    source_topic: SourceTopic, staging: str, made: list[PubSubStreamReader], **extra: str
) -> PubSubStreamReader:
    reader = PubSubStreamReader(parse_options(source_topic.options(staging, **extra)))
    made.append(reader)
    return reader


def read_batch(reader: PubSubStreamReader, start: int, end: int) -> list[dict]:
    """Plan and read ``(start, end]`` through a pickled copy, as an executor would."""
    import pickle

    executor_copy = pickle.loads(pickle.dumps(reader))
    rows: list[dict] = []
    for partition in reader.partitions({"batch": start}, {"batch": end}):
        for batch in executor_copy.read(pickle.loads(pickle.dumps(partition))):
            assert batch.schema.equals(output_arrow_schema())
            rows.extend(pa.Table.from_batches([batch]).to_pylist())
    return rows


def staged_message_ids(reader: PubSubStreamReader, batch: int) -> list[str]:
    # A non-nullable column (STAGED_SCHEMA): no None among its values.
    message_ids = reader.staging.read_table(batch, ["message_id"]).column(0).to_pylist()
    return sorted(cast("list[str]", message_ids))


def test_latest_offset_stages_pulled_messages_as_the_next_batch(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    payloads = source_topic.publish_packed(messages=4, events_per_message=5)
    raw_id = source_topic.publish_raw(b"not an envelope", origin="test")
    reader = new_reader(source_topic, staging_location, readers)

    assert reader.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}

    manifest = reader.staging.manifest(1)
    assert (manifest.messages, manifest.rows) == (5, 21)
    rows = read_batch(reader, 0, 1)
    assert sorted(row["payload"] for row in rows) == sorted([*payloads, b"not an envelope"])
    raw_rows = [row for row in rows if row["message_id"] == raw_id]
    assert [(r["event_index"], r["attributes"], r["unpack_error"]) for r in raw_rows] == [
        (0, [("origin", "test")], None)
    ]
    assert reader.partitions({"batch": 1}, {"batch": 1}) == []


def test_empty_trigger_returns_the_start_offset_and_stages_nothing(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    reader = new_reader(source_topic, staging_location, readers)
    assert reader.initialOffset() == {"batch": 0}
    assert reader.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 0}
    assert reader.staging.batches() == []


def test_nothing_is_acknowledged_before_commit_and_commit_is_idempotent(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    source_topic.publish_packed(messages=2, events_per_message=3)
    reader = new_reader(source_topic, staging_location, readers)
    assert reader.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    first_ids = staged_message_ids(reader, 1)
    first_ack_ids = reader.staging.ack_ids(1)
    source_topic.publish_packed(messages=3, events_per_message=3)
    # Spark plans batch 2 with start = end of batch 1: batch 1 is committed, so acked now.
    assert reader.latestOffset({"batch": 1}, ReadAllAvailable()) == {"batch": 2}
    second_ids = staged_message_ids(reader, 2)
    second_ack_ids = reader.staging.ack_ids(2)
    assert reader.staging.batches() == [2]
    reader.commit({"batch": 1})  # Spark's late commit of batch 1: already done, no error
    reader.commit({"batch": 1})
    abandon(reader)

    # Batch 2 was never committed: its messages come back; batch 1's stay acknowledged.
    assert source_topic.redeliverable(first_ack_ids + second_ack_ids, expected=3) == second_ids
    assert len(first_ids) == 2


def test_commit_acknowledges_every_staged_batch_up_to_its_offset(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    source_topic.publish_packed(messages=3, events_per_message=2)
    reader = new_reader(source_topic, staging_location, readers, maxRecordsPerTrigger="2")
    assert reader.latestOffset({"batch": 0}, ReadMaxRows(2)) == {"batch": 1}
    ack_ids = reader.staging.ack_ids(1)
    committed_ids = staged_message_ids(reader, 1)
    reader.commit({"batch": 1})
    assert reader.staging.batches() == []
    abandon(reader)  # the message pulled beyond the limit returns when its lease lapses
    unacknowledged = sorted(set(source_topic.published_ids) - set(committed_ids))
    assert len(committed_ids) == 1
    assert source_topic.redeliverable(ack_ids, expected=2) == unacknowledged
    assert reader.staging.read_stats() == {
        "acknowledged_batches": 1,
        "acknowledged_messages": 1,
        "last_acknowledged_batch": 1,
    }


@pytest.mark.slow  # waits past a real ack deadline
def test_leases_of_staged_messages_are_extended_past_the_ack_deadline(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    source_topic.publish_packed(messages=3, events_per_message=2)
    reader = new_reader(source_topic, staging_location, readers)
    assert reader.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    ack_ids = reader.staging.ack_ids(1)

    time.sleep(ACK_DEADLINE_SECONDS + 3)  # without renewals every message would be due again
    other_consumer = Subscriber(source_topic.subscription_path, source_topic.emulator_host)
    assert other_consumer.pull(1000, wait_seconds=0, timeout_seconds=10) == []
    other_consumer.close()
    abandon(reader)
    assert source_topic.redeliverable(ack_ids, expected=3) == sorted(source_topic.published_ids)


def test_admission_control_caps_rows_per_batch_without_splitting_messages(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    payloads = source_topic.publish_packed(messages=10, events_per_message=3)
    reader = new_reader(source_topic, staging_location, readers, maxRecordsPerTrigger="7")
    assert reader.getDefaultReadLimit() == ReadMaxRows(7)

    rows_per_batch = []
    seen: list[bytes] = []
    start = 0
    while (end := reader.latestOffset({"batch": start}, ReadMaxRows(7))["batch"]) != start:
        rows = read_batch(reader, start, end)
        rows_per_batch.append(len(rows))
        seen.extend(row["payload"] for row in rows)
        start = end
    assert rows_per_batch == [6, 6, 6, 6, 6]
    assert sorted(seen) == sorted(payloads)

    # A message larger than the limit still makes progress: it forms a batch on its own.
    source_topic.publish_packed(messages=1, events_per_message=3)
    assert reader.latestOffset({"batch": start}, ReadMaxRows(2)) == {"batch": start + 1}
    assert reader.staging.manifest(start + 1).rows == 3


def test_restart_replays_a_logged_batch_from_staging_with_identical_rows(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    source_topic.publish_packed(messages=4, events_per_message=4)
    before_crash = new_reader(source_topic, staging_location, readers)
    assert before_crash.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    rows_before = read_batch(before_crash, 0, 1)
    abandon(before_crash)  # the driver dies between planning and commit

    after_restart = new_reader(source_topic, staging_location, readers)
    # Spark replays the uncommitted batch first: partitions(start, end) of the offset log.
    rows_after = read_batch(after_restart, 0, 1)
    assert rows_after == rows_before
    assert len(rows_after) == 16
    ack_ids = after_restart.staging.ack_ids(1)
    # The replayed batch commits; the next planning finds nothing new (leases were re-held).
    assert after_restart.latestOffset({"batch": 1}, ReadAllAvailable()) == {"batch": 1}
    assert after_restart.staging.batches() == []
    abandon(after_restart)
    assert source_topic.redeliverable(ack_ids, expected=0) == []


def test_rows_carry_their_batchs_staging_time_from_its_manifest_on_every_replay(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    source_topic.publish_packed(messages=2, events_per_message=3)
    before_crash = new_reader(source_topic, staging_location, readers)
    assert before_crash.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    rows_before = read_batch(before_crash, 0, 1)
    abandon(before_crash)  # the driver dies between planning and commit

    time.sleep(0.01)  # a replay reading the clock would see a later time
    source_topic.publish_packed(messages=1, events_per_message=2)
    after_restart = new_reader(source_topic, staging_location, readers)
    rows_after = read_batch(after_restart, 0, 1)  # Spark replays the logged batch first
    first_staged_at = staged_time(after_restart, 1)
    assert after_restart.latestOffset({"batch": 1}, ReadAllAvailable()) == {"batch": 2}
    second_batch = read_batch(after_restart, 1, 2)

    assert len(rows_after) == 6
    assert [row["staged_time"] for row in rows_before] == [first_staged_at] * 6
    assert [row["staged_time"] for row in rows_after] == [first_staged_at] * 6
    assert [row["staged_time"] for row in second_batch] == [staged_time(after_restart, 2)] * 2
    assert first_staged_at < staged_time(after_restart, 2) < dt.datetime.now(dt.UTC)
    abandon(after_restart)


def staged_time(reader: PubSubStreamReader, batch: int) -> dt.datetime:
    """The staging time the manifest of ``batch`` records, as the rows carry it."""
    micros = reader.staging.manifest(batch).staged_time_micros
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)


def test_restart_keeps_a_staged_batch_missing_from_the_offset_log_without_a_nack(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    source_topic.publish_packed(messages=3, events_per_message=2)
    before_crash = new_reader(source_topic, staging_location, readers)
    assert before_crash.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    staged_ids = staged_message_ids(before_crash, 1)
    old_ack_ids = before_crash.staging.ack_ids(1)
    abandon(before_crash)  # died before Spark wrote {"batch": 1} to its offset log

    after_restart = new_reader(source_topic, staging_location, readers)
    # Spark asks from batch 0: batch 1 was never logged. It is offered again as it is, its
    # leases re-held: a release would cost each message a delivery attempt.
    assert after_restart.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    assert staged_message_ids(after_restart, 1) == staged_ids
    assert after_restart.staging.ack_ids(1) == old_ack_ids
    assert len(read_batch(after_restart, 0, 1)) == 6
    after_restart.commit({"batch": 1})
    abandon(after_restart)
    assert source_topic.redeliverable(old_ack_ids, expected=0) == []


def test_available_now_reads_every_message_published_before_it_started(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    before = source_topic.publish_packed(messages=5, events_per_message=2)
    reader = new_reader(source_topic, staging_location, readers, maxRecordsPerTrigger="4")
    reader.prepareForTriggerAvailableNow()
    time.sleep(0.01)  # publish times have millisecond resolution
    late = source_topic.publish_packed(messages=2, events_per_message=2)

    seen: list[bytes] = []
    start = 0
    while (end := reader.latestOffset({"batch": start}, ReadMaxRows(4))["batch"]) != start:
        seen.extend(row["payload"] for row in read_batch(reader, start, end))
        start = end
    # Late messages a pull brought anyway are staged with the run, not handed back (a nack
    # each); the others wait for the next run.
    assert set(before) <= set(seen) <= set(before) | set(late)
    assert len(seen) == len(set(seen))
    assert reader.staging.batches() == []  # the last batch was acked by the final call
    abandon(reader)

    next_run = new_reader(source_topic, staging_location, readers)
    next_run.prepareForTriggerAvailableNow()
    rest = sorted(set(late) - set(seen))
    expected_end = start + 1 if rest else start
    assert next_run.latestOffset({"batch": start}, ReadAllAvailable()) == {"batch": expected_end}
    rows = read_batch(next_run, start, expected_end) if rest else []
    assert sorted(row["payload"] for row in rows) == rest


def test_stale_ack_ids_are_reported_and_the_valid_ones_still_acknowledged(
    source_topic: SourceTopic,
) -> None:
    source_topic.publish_packed(messages=3, events_per_message=1)
    subscriber = Subscriber(source_topic.subscription_path, source_topic.emulator_host)
    received: list = []
    while len(received) < 3:
        received.extend(subscriber.pull(10, wait_seconds=0, timeout_seconds=10))
    ack_ids = [item.ack_id for item in received]
    assert subscriber.acknowledge([ack_ids[0], "stale-ack-id", *ack_ids[1:]]) == 1
    subscriber.close()
    assert source_topic.redeliverable(ack_ids, expected=0) == []


def test_delivery_attempt_is_reported_when_the_subscription_has_a_dead_letter_policy(
    source_topic: SourceTopic, staging_location: str, readers: list[PubSubStreamReader]
) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    dead_letter = source_topic.publisher.create_topic(name=source_topic.topic_path + "-dead")
    subscription = subscriber.create_subscription(
        request={
            "name": source_topic.subscription_path + "-with-dead-letter",
            "topic": source_topic.topic_path,
            "dead_letter_policy": {
                "dead_letter_topic": dead_letter.name,
                "max_delivery_attempts": 5,
            },
        }
    )
    subscriber.close()
    source_topic.publish_packed(messages=1, events_per_message=2)
    with_dead_letter = SourceTopic(
        source_topic.emulator_host,
        source_topic.topic_path,
        subscription.name,
        source_topic.publisher,
    )
    reader = new_reader(with_dead_letter, staging_location, readers)
    assert reader.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    assert [row["delivery_attempt"] for row in read_batch(reader, 0, 1)] == [1, 1]

    plain = new_reader(source_topic, f"{staging_location}/plain", readers)
    assert plain.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    assert [row["delivery_attempt"] for row in read_batch(plain, 0, 1)] == [None, None]


class RecordingSubscriber(Subscriber):
    """A real subscriber that also records the ``modifyAckDeadline`` requests it sends."""

    def __init__(self, subscription_path: str, emulator_host: str) -> None:
        super().__init__(subscription_path, emulator_host)
        self.deadlines_sent: list[tuple[list[str], int]] = []

    def modify_ack_deadline(self, ack_ids: Sequence[str], seconds: int) -> int:
        self.deadlines_sent.append((list(ack_ids), seconds))
        return super().modify_ack_deadline(ack_ids, seconds)


def test_lease_keeper_gives_up_after_max_lease_and_messages_return(
    source_topic: SourceTopic, caplog: pytest.LogCaptureFixture
) -> None:
    source_topic.publish_packed(messages=2, events_per_message=1)
    subscriber = RecordingSubscriber(source_topic.subscription_path, source_topic.emulator_host)
    now = [1000.0]
    keeper = LeaseKeeper(subscriber, 10, max_lease_seconds=30, clock=lambda: now[0])
    received: list = []
    while len(received) < 2:
        received.extend(subscriber.pull(10, wait_seconds=0, timeout_seconds=10))
    ack_ids = [item.ack_id for item in received]
    keeper.hold(7, ack_ids)
    assert subscriber.deadlines_sent == [(ack_ids, 10)]  # extended at once

    now[0] += 20
    sent = len(subscriber.deadlines_sent)
    keeper.renew_once()
    assert subscriber.deadlines_sent[sent : sent + 1] == [(ack_ids, 10)]  # still held: renewed
    now[0] += 11
    keeper.renew_once()
    assert "pubsub lease given up key=7 messages=2 held_seconds=31" in caplog.text
    assert keeper.drop(7) == []  # no longer held...
    sent = len(subscriber.deadlines_sent)
    keeper.renew_once()
    assert subscriber.deadlines_sent[sent:] == []  # ...so never renewed again
    keeper.stop()
    subscriber.close()
    assert source_topic.redeliverable(ack_ids, expected=2) == sorted(source_topic.published_ids)
