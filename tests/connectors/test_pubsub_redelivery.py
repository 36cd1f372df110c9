"""Redelivery accounting: the source costs no message a needless delivery attempt (issue 15, §6).

Pub/Sub counts a delivery attempt for every pull of a message, so for every nack
(``modifyAckDeadline 0``) and every lapsed lease followed by a redelivery; with a dead-letter
policy of 10 attempts, a valid message handed back ten times is dead-lettered. These tests
drive the reader as Spark does against :class:`CountingSubscriber` (see its module for why a
double) and the lease keeper with an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pyspark.sql.streaming.datasource import ReadMaxRows

from connectors.pubsub import parse_options
from connectors.pubsub.admission import PENDING
from connectors.pubsub.leases import LeaseKeeper
from connectors.pubsub.reader import PubSubStreamReader
from tests.fixtures.counting_subscriber import CountingSubscriber


@pytest.fixture
def keepers() -> Iterator[list[LeaseKeeper]]:
    """Lease keepers of the readers a test made; their threads are stopped at the end."""
    made: list[LeaseKeeper] = []
    yield made
    for keeper in made:
        keeper.stop()


def new_reader(
    subscriber: CountingSubscriber, staging: Path, keepers: list[LeaseKeeper], **extra: str
) -> PubSubStreamReader:
    options = {"subscription": subscriber.subscription_path, "stagingLocation": str(staging)}
    reader = PubSubStreamReader(parse_options({**options, **extra}), subscriber)
    keepers.append(reader.leases)
    return reader


def drain_available_now(reader: PubSubStreamReader, start: int, max_rows: int) -> int:
    """One ``availableNow`` run as Spark drives it; returns the last batch."""
    reader.prepareForTriggerAvailableNow()
    while (end := reader.latestOffset({"batch": start}, ReadMaxRows(max_rows))["batch"]) != start:
        reader.partitions({"batch": start}, {"batch": end})
        start = end
    return start


def test_a_long_available_now_drain_with_concurrent_publishing_delivers_each_message_once(
    tmp_path: Path, keepers: list[LeaseKeeper]
) -> None:
    subscriber = CountingSubscriber()
    backlog = subscriber.publish(600, publish_time=time.time() - 60)
    reader = new_reader(subscriber, tmp_path, keepers, pullMaxMessages="20", pullConcurrency="2")
    subscriber.publish_per_pull = 3  # the producer keeps publishing while the run drains

    last = drain_available_now(reader, 0, max_rows=50)

    assert last >= 12  # 600 messages, 50 rows per batch at most
    assert subscriber.acknowledged >= set(backlog)  # the final batch too
    assert reader.staging.batches() == []
    published = subscriber.published
    assert len(published) > len(backlog)
    assert subscriber.nacks == 0
    assert max(subscriber.attempts.values()) == 1
    # Messages published during the run were either staged with it or never pulled.
    assert set(subscriber.attempts) == subscriber.acknowledged


def test_a_restart_keeps_a_staged_batch_the_offset_log_never_recorded(
    tmp_path: Path, keepers: list[LeaseKeeper]
) -> None:
    subscriber = CountingSubscriber()
    subscriber.publish(30)
    before_crash = new_reader(subscriber, tmp_path, keepers, maxRecordsPerTrigger="20")
    assert before_crash.latestOffset({"batch": 4}, ReadMaxRows(20)) == {"batch": 5}
    staged = before_crash.staging.ack_ids(5)
    # The driver dies before Spark logs {"batch": 5}: the object is dropped (never stop()),
    # its lease thread stopped as the process's death would stop it.
    before_crash.leases.stop()
    del before_crash

    after_restart = new_reader(subscriber, tmp_path, keepers, maxRecordsPerTrigger="20")
    assert after_restart.latestOffset({"batch": 4}, ReadMaxRows(20)) == {"batch": 5}
    assert after_restart.staging.ack_ids(5) == staged
    assert after_restart.latestOffset({"batch": 5}, ReadMaxRows(20)) == {"batch": 6}
    assert after_restart.latestOffset({"batch": 6}, ReadMaxRows(20)) == {"batch": 6}
    assert subscriber.nacks == 0
    assert sorted(subscriber.attempts.values()) == [1] * 30
    assert subscriber.acknowledged == set(subscriber.published)


def test_a_restart_in_an_available_now_run_stages_after_the_kept_batches(
    tmp_path: Path, keepers: list[LeaseKeeper]
) -> None:
    subscriber = CountingSubscriber()
    subscriber.publish(45, publish_time=time.time() - 60)
    before_crash = new_reader(subscriber, tmp_path, keepers)
    before_crash.prepareForTriggerAvailableNow()
    assert before_crash.latestOffset({"batch": 0}, ReadMaxRows(20)) == {"batch": 1}
    assert before_crash.staging.batches() == [1, 2, 3]
    before_crash.leases.stop()  # dies before Spark logs batch 1
    del before_crash

    after_restart = new_reader(subscriber, tmp_path, keepers)
    subscriber.publish(5, publish_time=time.time() - 30)  # before the new run's cutoff
    assert drain_available_now(after_restart, 0, max_rows=20) == 4  # 20, 20, 5 kept; 5 new
    assert subscriber.nacks == 0
    assert sorted(subscriber.attempts.values()) == [1] * 50
    assert subscriber.acknowledged == set(subscriber.published)


def test_batches_are_bounded_by_default_and_by_payload_bytes(
    tmp_path: Path, keepers: list[LeaseKeeper]
) -> None:
    subscriber = CountingSubscriber()
    defaults = new_reader(subscriber, tmp_path / "defaults", keepers)
    assert defaults.getDefaultReadLimit() == ReadMaxRows(1_000_000)  # never "all available"

    subscriber.publish(10, publish_time=time.time() - 60, payload_bytes=1000)
    reader = new_reader(subscriber, tmp_path, keepers, maxBytesPerTrigger="3500")
    last = drain_available_now(reader, 0, max_rows=1_000_000)
    assert last == 4  # 3 + 3 + 3 + 1 messages of 1,000 bytes
    assert subscriber.acknowledged == set(subscriber.published)


def test_replacing_the_pending_group_keeps_each_message_own_lease_time() -> None:
    subscriber = CountingSubscriber()
    subscriber.publish(3)
    first, second, third = (item.ack_id for item in subscriber.pull(3, 0, 10))
    now = [0.0]
    keeper = LeaseKeeper(subscriber, 60, max_lease_seconds=3600, clock=lambda: now[0])
    extended: list[list[str]] = []

    def record(ack_ids: Sequence[str], seconds: int) -> int:
        extended.append(list(ack_ids))
        return 0

    subscriber.modify_ack_deadline = record  # type: ignore[method-assign]
    keeper.hold(PENDING, [first, second])
    now[0] = 3000.0
    keeper.hold(PENDING, [third])  # pulled 50 minutes later
    keeper.replace(PENDING, [second, third])  # `first` was staged meanwhile
    keeper.move(PENDING, 9, [second])  # and `second` now, as batch 9
    now[0] = 3700.0  # past the maximum lease of `second`, not of `third`
    extended.clear()

    keeper.renew_once()

    assert extended == [[third]]
    assert keeper.drop(9) == []
    assert keeper.drop(PENDING) == [third]
    keeper.stop()
