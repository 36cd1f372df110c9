"""A whole micro-batch with the Storage Write method, through Spark's tasks: no load job at all.

The job's :class:`streaming.batch_writer.BatchWriter` runs one batch of valid events and
rejected payloads on the shared local Spark session against fake-gcs-server and bqemulator.
Both kinds of rows go through PENDING streams (the emulator's Storage Write RPCs are counted),
none through a load job; attempts killed between a commit and the query that applies it are
replayed with the same batch id and append nothing for the table that was committed.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from streaming.batch_writer import EVENTS_SCHEMA, REJECTED_SCHEMA, BatchOutcome, BatchWriter
from streaming.bigquery_loader import BigQueryTable
from streaming.bigquery_storage_write import (
    RejectedRowsStaging,
    StorageWriteStaging,
    StorageWriteTables,
)
from streaming.event_sink import IdempotentEventSink
from streaming.lake_writer import LakeWriter
from streaming.sink_rows import rows_for_sinks
from tests.fixtures.bigquery import storage_write_calls
from tests.streaming.test_any_payload_to_sink_rows import source_rows, valid_event

VALID = 30
REJECTED = 4
BATCH = 3


class Killed(RuntimeError):
    """The driver dies at this point of the batch (the test's stand-in for ``kill -9``)."""


@pytest.fixture
def writer(
    bigquery_emulator: BigQueryEmulator,
    gcs_server: FakeGcsServer,
    gcs_bucket: str,
    event_sink: IdempotentEventSink,
    rejected_table: BigQueryTable,
) -> BatchWriter:
    storage = gcs_server.storage_client()
    endpoint = bigquery_emulator.grpc_endpoint
    # Job ids are per project and the emulator is shared by the session: one query per test.
    query_id = f"query-{event_sink.history.dataset}"
    return BatchWriter(
        events_lake=LakeWriter(storage, gcs_bucket, "events", "purchase_date"),
        rejected_lake=LakeWriter(storage, gcs_bucket, "rejected", "rejected_date"),
        events_sink=event_sink,
        rejected_table=rejected_table,
        query_id=lambda: query_id,
        storage_write=StorageWriteTables(
            events=StorageWriteStaging(event_sink, EVENTS_SCHEMA, endpoint),
            rejected=RejectedRowsStaging(rejected_table, REJECTED_SCHEMA, endpoint),
        ),
    )


def _count(table: BigQueryTable, column: str) -> tuple[int, int]:
    sql = f"SELECT COUNT(*) AS n, COUNT(DISTINCT {column}) AS d FROM `{table.table_id}`"
    (row,) = table.client.query(sql).result()
    return row.n, row.d


def _load_jobs(writer: BatchWriter) -> list[str]:
    client = writer.events_sink.history.client
    prefix = f"olist_{writer.query_id()}"
    return [
        job.job_id
        for job in client.list_jobs()
        if job.job_type == "load" and job.job_id.startswith(prefix)
    ]


def _kill_once(monkeypatch: pytest.MonkeyPatch, staging: type[Any]) -> None:
    """The next ``apply`` of ``staging`` dies before it starts (after the commit)."""
    apply = staging.apply

    def killed(self: Any, *arguments: Any) -> Any:
        monkeypatch.setattr(staging, "apply", apply)
        raise Killed(f"killed before {staging.__name__}.apply")

    monkeypatch.setattr(staging, "apply", killed)


def test_valid_and_rejected_rows_land_once_without_a_load_job_and_replays_append_nothing(
    spark: Any,
    writer: BatchWriter,
    bigquery_emulator: BigQueryEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages: list[tuple[bytes, dict[str, str]]] = [(valid_event(), {}) for _ in range(VALID)]
    messages += [(b"{not json %d" % index, {}) for index in range(REJECTED)]
    read = source_rows(messages)
    outcomes: list[BatchOutcome] = []
    writer.on_batch = outcomes.append

    def run_batch(killed_before: type[Any] | None = None) -> dict[str, int]:
        """The batch once more, killed before ``killed_before.apply`` if given; the
        emulator's Storage Write calls it made."""
        before = storage_write_calls(bigquery_emulator)
        frame = rows_for_sinks(spark.createDataFrame(read))
        if killed_before is None:
            writer(frame, BATCH)
        else:
            _kill_once(monkeypatch, killed_before)
            with pytest.raises(Killed):
                writer(frame, BATCH)
        calls = storage_write_calls(bigquery_emulator) - before
        return {m: calls[m] for m in ("CreateWriteStream", "AppendRows", "BatchCommitWriteStreams")}

    # 1. Killed after the events' commit, before their merge: the rejected rows not committed.
    assert run_batch(killed_before=StorageWriteStaging)["BatchCommitWriteStreams"] == 1
    # 2. The replay appends no event (committed) but the rejected rows (not committed: one
    #    task holds them all, they share a date), commits them, and is killed before the insert.
    replayed = run_batch(killed_before=RejectedRowsStaging)
    assert replayed == {"CreateWriteStream": 1, "AppendRows": 1, "BatchCommitWriteStreams": 1}
    assert _count(writer.events_sink.history, "event_id") == (VALID, VALID)
    assert _count(writer.rejected_table, "pubsub_message_id") == (0, 0)
    # 3. The next replay appends nothing at all (both tables were committed) and inserts the
    #    rejected rows; the events were merged by the replay before.
    assert run_batch() == {"CreateWriteStream": 0, "AppendRows": 0, "BatchCommitWriteStreams": 0}

    assert _count(writer.events_sink.history, "event_id") == (VALID, VALID)
    assert _count(writer.rejected_table, "pubsub_message_id") == (REJECTED, REJECTED)
    assert [(item.valid_rows, item.rejected_rows) for item in outcomes] == [(VALID, REJECTED)]
    assert [item.replayed for item in outcomes] == [True]
    assert _load_jobs(writer) == []
    client = writer.events_sink.history.client
    tables = [table.table_id for table in client.list_tables(writer.events_sink.history.dataset)]
    assert sorted(tables) == ["order_events", "order_events_rejected", "order_items_current"]
