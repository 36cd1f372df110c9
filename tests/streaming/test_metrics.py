"""The job's status: the Pub/Sub source's counters (from the file the source writes), the
batches of the last hour and the last trigger, idle or not (what `olist health` reads)."""

from __future__ import annotations

import time
from pathlib import Path

from connectors.pubsub import source_stats_path
from connectors.pubsub.staging_local import LocalStagingArea
from streaming.batch_writer import BatchOutcome
from streaming.metrics import StreamStatus


def test_status_reports_the_messages_the_source_acknowledged(tmp_path: Path) -> None:
    status = StreamStatus(source_stats_path=source_stats_path(tmp_path))
    assert status.refresh_source_stats() == {}  # nothing acknowledged yet

    counters = {"acknowledged_batches": 2, "acknowledged_messages": 7, "last_acknowledged_batch": 2}
    LocalStagingArea(tmp_path).write_stats(counters)
    assert status.refresh_source_stats() == counters
    gauge = "olist_stream_pubsub_messages_acknowledged_total"
    assert status.metrics.registry.get_sample_value(gauge) == 7


def test_status_sums_the_batches_of_the_last_hour_and_forgets_older_ones(monkeypatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    status = StreamStatus()
    status.batch_written(BatchOutcome(3, valid_rows=10, rejected_rows=1, objects=1,
                                      replayed=False, seconds=0.5))  # fmt: skip
    clock[0] += 3000
    status.batch_written(BatchOutcome(4, valid_rows=5, rejected_rows=2, objects=1,
                                      replayed=False, seconds=0.5))  # fmt: skip
    assert status.snapshot()["last_hour"] == {
        "batch_ids": [3, 4], "valid_rows": 15, "rejected_rows": 3
    }  # fmt: skip
    clock[0] += 601  # batch 3 is now 3,601 s old
    assert status.snapshot()["last_hour"] == {
        "batch_ids": [4], "valid_rows": 5, "rejected_rows": 2
    }  # fmt: skip


def test_an_idle_trigger_counts_as_the_query_being_alive(monkeypatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    status = StreamStatus()
    assert status.snapshot()["last_trigger_at"] is None
    status.idle()
    snapshot = status.snapshot()
    assert snapshot["last_trigger_at"] == 1_000_000.0
    assert snapshot["last_committed_at"] is None  # no batch ran
