"""The start-up warm-up: the batch's code on synthetic rows, with no trace and before readiness."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from streaming.metrics import StreamStatus
from streaming.settings import StreamSettings
from streaming.warmup import DECLINED_PAYLOADS, VALID_EVENTS, synthetic_source, warm_up


class _RecordingStatus(StreamStatus):
    """A status whose snapshots are taken by a thread while the warm-up runs."""

    def __init__(self) -> None:
        super().__init__()
        self.during: list[dict[str, Any]] = []
        self._stop = threading.Event()

    def warm_up_started(self) -> None:
        super().warm_up_started()
        # The query is "running" already here, to show the warm-up alone holds readiness back.
        self.query_started("query", "run")
        threading.Thread(target=self._poll, daemon=True).start()

    def warm_up_finished(self) -> None:
        self.during.append(self.snapshot())
        self._stop.set()
        super().warm_up_finished()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.during.append(self.snapshot())


@pytest.fixture
def settings(
    tmp_path: Path,
    storage_emulator_host: str,
    gcs_bucket: str,
    bigquery_emulator: BigQueryEmulator,
    bigquery_dataset: str,
) -> StreamSettings:
    return StreamSettings(
        gcp_project=bigquery_emulator.project,
        lake_bucket=gcs_bucket,
        bigquery_dataset=bigquery_dataset,
        bigquery_api_endpoint=bigquery_emulator.endpoint,
        checkpoint_dir=tmp_path / "checkpoint",
    )


def test_synthetic_batch_holds_decoded_events_and_one_row_per_declined_kind(spark: Any) -> None:
    rows = synthetic_source(spark).collect()
    decoded = [row for row in rows if row.decoded is not None]
    assert len(decoded) == VALID_EVENTS
    assert all(row.payload is None for row in decoded)
    declined = [row.payload for row in rows if row.decoded is None]
    assert declined[: len(DECLINED_PAYLOADS)] == list(DECLINED_PAYLOADS)
    assert len(declined) == len(DECLINED_PAYLOADS) + 4  # the field rules' payloads
    assert [row.unpack_error is not None for row in rows].count(True) == 1


def test_synthetic_rows_have_the_schema_of_the_jobs_source(spark: Any) -> None:
    from connectors.pubsub import PubSubDataSource
    from streaming.job import read_events

    spark.dataSource.register(PubSubDataSource)
    job_source = read_events(spark, StreamSettings())  # defines the stream, reads nothing
    assert synthetic_source(spark).schema == job_source.schema


def test_warm_up_runs_the_batch_leaves_no_trace_and_holds_readiness_back(
    spark: Any,
    settings: StreamSettings,
    gcs_server: FakeGcsServer,
    bigquery_emulator: BigQueryEmulator,
) -> None:
    from streaming import job

    status = _RecordingStatus()
    writer = job.build_writer(settings, status)  # creates the tables, as the job does
    report = warm_up(spark, settings, (writer.events_lake, writer.rejected_lake), status)

    assert report.completed
    assert (report.valid_rows, report.rejected_rows) == (
        VALID_EVENTS,
        len(DECLINED_PAYLOADS) + 4,
    )
    assert status.during, "no snapshot was taken while the warm-up ran"
    assert all(s["warming_up"] and s["healthy"] and not s["ready"] for s in status.during)
    assert status.snapshot()["ready"]
    storage = gcs_server.storage_client()
    assert list(storage.list_blobs(settings.lake_bucket)) == []
    client = bigquery_emulator.client()
    for table in (settings.bigquery_table, settings.bigquery_rejected_table):
        (count,) = client.query(
            f"SELECT COUNT(*) AS n FROM `{settings.gcp_project}.{settings.bigquery_dataset}"
            f".{table}`"
        ).result()
        assert count["n"] == 0
    tables = {item.table_id for item in client.list_tables(settings.bigquery_dataset)}
    assert tables == {
        settings.bigquery_table,
        settings.bigquery_current_table,
        settings.bigquery_rejected_table,
    }  # no staging table either
    assert not settings.checkpoint_dir.exists()


def test_a_warm_up_past_its_timeout_is_cancelled_and_the_session_still_works(
    spark: Any, settings: StreamSettings
) -> None:
    from streaming import job

    status = StreamStatus()
    writer = job.build_writer(settings, status)
    hurried = settings.model_copy(update={"stream_warmup_timeout_seconds": 0.01})
    report = warm_up(spark, hurried, (writer.events_lake, writer.rejected_lake), status)

    assert not report.completed
    assert not status.snapshot()["warming_up"]
    assert spark.range(10).count() == 10
