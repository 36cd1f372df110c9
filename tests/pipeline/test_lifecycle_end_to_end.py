"""Order life cycle end to end: changes made after purchase reach BigQuery as new versions.

Orders are created in PostgreSQL, read by the producer and loaded by the streaming job; then
the simulator's write paths move them on (approval, carrier handover, delivery, review), one
order is canceled and one item deleted, while the producer and the job are each killed
(``SIGKILL`` of the process group) in the middle and restarted. BigQuery must end where the
source is: ``order_items_current`` equal, column by column, to ``olist.order_events`` (the
source's current state), and ``order_events`` holding every version the feed served, once.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.pipeline import LocalPipeline
from harness.processes import ProcessExited, free_port, wait_until
from schemas.order_event import EVENT_FIELDS
from tests.fixtures.lifecycle import (
    apply_wave,
    cancellation,
    create_orders,
    delete_item,
    lifecycle_waves,
    source_current_state,
)
from tests.fixtures.producer import cursor_sequence, source_event_ids

pytestmark = pytest.mark.slow

ORDERS = 24
SEED = 17


def _start_producer(pipeline: LocalPipeline, name: str) -> subprocess.Popen[bytes]:
    """A producer publishing slowly (40 events/s, 5 per message), so a kill lands mid-wave."""
    return pipeline.start(
        name, "produce", OLIST_EVENTS_PER_MESSAGE="5", OLIST_MAX_EVENTS_PER_SECOND="40",
        OLIST_POLL_INTERVAL_SECONDS="0.2", OLIST_METRICS_PORT=str(free_port()),
    )  # fmt: skip


@dataclass
class _StreamingJob:
    """``olist stream`` on one checkpoint, logs ``stream-1``, ``stream-2``...

    :meth:`wait_until` starts the job again, as Kubernetes would, when it exited because the
    source's planner process missed PySpark's fixed connect-back timeout on a loaded machine
    (nothing was read then; bench/stream.py:run_available_now does the same). Any other exit
    fails the test."""

    pipeline: LocalPipeline
    env: dict[str, str]
    starts: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.starts[-1]

    @property
    def log_name(self) -> str:
        return f"stream-{len(self.starts)}"

    def start(self) -> None:
        self.starts.append(
            self.pipeline.start(f"stream-{len(self.starts) + 1}", "stream", **self.env)
        )

    def wait_until(
        self, condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5
    ) -> None:
        for _ in range(3):
            try:
                wait_until(condition, timeout, what, self.process, interval)
                return
            except ProcessExited:
                if "failed to connect back" not in self.pipeline.log(self.log_name, 200_000):
                    raise
                self.start()
        raise AssertionError(f"the job missed PySpark's connect-back 3 times waiting for {what}")


def _wait_until_every_version_is_loaded(
    pipeline: LocalPipeline, database_url: str, stream: _StreamingJob
) -> dict[str, int]:
    """Wait until the history holds as many rows as the feed has versions; returns the feed's
    ``event_id -> source_sequence``. (The job writes history and current state in one
    transaction, so the current state is then up to date too.)"""
    expected = asyncio.run(source_event_ids(database_url))
    stream.wait_until(lambda: pipeline.count_loaded().rows >= len(expected), 600, "every version")
    return expected


def _assert_bigquery_equals_source(
    pipeline: LocalPipeline, database_url: str, expected: dict[str, int]
) -> list[dict[str, Any]]:
    """History: every version once. Current state: the source's, column by column."""
    history = pipeline.query(f"SELECT event_id, source_sequence FROM {pipeline.table()}")
    assert len(history) == len(expected)
    assert {row["event_id"]: row["source_sequence"] for row in history} == expected
    current = pipeline.query(
        f"SELECT {', '.join(EVENT_FIELDS)} FROM {pipeline.table('order_items_current')} "
        "ORDER BY order_id, order_item_id"
    )
    source = asyncio.run(source_current_state(database_url))
    assert [(r["order_id"], r["order_item_id"]) for r in current] == [
        (r["order_id"], r["order_item_id"]) for r in source
    ]
    for warehouse_row, source_row in zip(current, source, strict=True):
        assert warehouse_row == source_row
    return current


def _crash_inside_a_batch_with_rows(
    pipeline: LocalPipeline, stream: _StreamingJob, checkpoint: Path
) -> int:
    """SIGKILL the job as soon as a batch not yet committed writes its first Parquet object:
    before BigQuery and before Spark's commit. Returns that batch's id.

    Any later batch, not just the next one: a trigger that found nothing writes no object."""
    commits = checkpoint / "commits"
    committed = max((int(p.name) for p in commits.iterdir() if p.name.isdigit()), default=-1)
    assert pipeline.gcs is not None
    lake = pipeline.gcs.bucket_path(pipeline.bucket) / "order_events"
    written: list[int] = []

    def object_of_an_uncommitted_batch() -> bool:
        written[:] = [
            int(match.group(1))
            for path in lake.rglob("*.parquet")
            if (match := re.search(r"-batch=(\d{12})-", path.name))
            and int(match.group(1)) > committed
        ]
        return bool(written)

    stream.wait_until(
        object_of_an_uncommitted_batch, 600, f"an object of a batch after {committed}", 0.02
    )
    pipeline.crash(stream.process)
    batch = min(written)
    assert not (commits / str(batch)).exists(), f"batch {batch} was committed before the kill"
    return batch


# Two cold starts of the job's JVM: its first batch took 223 s on the shared 2-core machine.
@pytest.mark.timeout(1500)
def test_lifecycle_changes_reach_current_state_and_history_once_despite_crashes(
    pipeline: LocalPipeline, database_url: str
) -> None:
    order_ids = asyncio.run(create_orders(database_url, ORDERS, SEED))
    canceled, moving = order_ids[0], order_ids[1:]
    waves = asyncio.run(lifecycle_waves(database_url, moving))
    assert {"approved", "shipped", "delivered", "review"} <= {
        stage.name for wave in waves for _, stage in wave
    }
    pipeline.start_api()
    producer = _start_producer(pipeline, "producer-1")
    stream = _StreamingJob(pipeline, pipeline.stream_env())
    checkpoint = Path(stream.env["OLIST_CHECKPOINT_DIR"])
    stream.start()

    # The new orders are read and loaded: one version per item, the source's state.
    created = _wait_until_every_version_is_loaded(pipeline, database_url, stream)
    assert len(created) == sum(1 for _ in asyncio.run(source_current_state(database_url)))
    _assert_bigquery_equals_source(pipeline, database_url, created)

    # Approvals and the cancellation; the producer is killed once it has published part of
    # them (its cursor past the created versions), before it persisted the rest.
    head = max(created.values())
    first_wave = [*waves[0], cancellation(canceled, waves[0][0][1].due_us)]
    changed = asyncio.run(apply_wave(database_url, first_wave, SEED))
    assert changed["canceled"] == 1
    cursor = Path(pipeline.env["OLIST_CURSOR_LOCATION"])
    wait_until(lambda: cursor_sequence(cursor) > head, 60, "a published change", producer, 0.02)
    pipeline.crash(producer)

    # Carrier handovers while the producer is down, then a new producer.
    asyncio.run(apply_wave(database_url, waves[1], SEED + 1))
    producer = _start_producer(pipeline, "producer-2")

    # Deliveries and a deleted item; the job is killed inside the batch that loads them.
    asyncio.run(apply_wave(database_url, waves[2], SEED + 2))
    items = asyncio.run(source_current_state(database_url))
    orders_with_two = [r for r in items if r["order_item_id"] == 2 and r["order_id"] != canceled]
    deleted = orders_with_two[0] if orders_with_two else items[-1]
    asyncio.run(delete_item(database_url, deleted["order_id"], deleted["order_item_id"]))
    killed_batch = _crash_inside_a_batch_with_rows(pipeline, stream, checkpoint)

    # Reviews (and whatever comes later) while the job is down, then a new job.
    for number, wave in enumerate(waves[3:], start=3):
        asyncio.run(apply_wave(database_url, wave, SEED + number))
    killed_at_start = len(stream.starts)
    stream.start()

    versions = _wait_until_every_version_is_loaded(pipeline, database_url, stream)
    assert pipeline.terminate(stream.process) == 0, pipeline.log(stream.log_name)
    # The killed batch was replayed by the new job (same batch id, from staging).
    restarted_logs = "".join(
        pipeline.log_path(f"stream-{number}").read_text()
        for number in range(killed_at_start + 1, len(stream.starts) + 1)
    )
    assert f"batch done batch_id={killed_batch} valid=" in restarted_logs
    assert pipeline.terminate(producer) == 0, pipeline.log("producer-2")
    assert len(versions) > len(created) + 3 * len(moving)
    current = _assert_bigquery_equals_source(pipeline, database_url, versions)
    by_item = {(row["order_id"], row["order_item_id"]): row for row in current}
    assert (deleted["order_id"], deleted["order_item_id"]) not in by_item
    assert {row["order_status"] for row in current if row["order_id"] == canceled} == {"canceled"}
    assert any(row["review_score"] is not None for row in current)
    assert any(row["order_status"] == "delivered" for row in current)
