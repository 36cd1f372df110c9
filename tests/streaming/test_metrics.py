"""The job's status reads the Pub/Sub source's counters from the file the source writes."""

from __future__ import annotations

from pathlib import Path

from connectors.pubsub import source_stats_path
from connectors.pubsub.staging_local import LocalStagingArea
from streaming.metrics import StreamStatus


def test_status_reports_the_messages_the_source_acknowledged(tmp_path: Path) -> None:
    status = StreamStatus(source_stats_path=source_stats_path(tmp_path))
    assert status.refresh_source_stats() == {}  # nothing acknowledged yet

    counters = {"acknowledged_batches": 2, "acknowledged_messages": 7, "last_acknowledged_batch": 2}
    LocalStagingArea(tmp_path).write_stats(counters)
    assert status.refresh_source_stats() == counters
    gauge = "olist_stream_pubsub_messages_acknowledged_total"
    assert status.metrics.registry.get_sample_value(gauge) == 7
