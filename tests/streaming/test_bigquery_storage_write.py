"""The Storage Write method against the BigQuery emulator's Storage Write API (gRPC).

Each test plays the job's parts in order: the driver's :meth:`before_tasks`, the tasks'
PENDING streams (one writer per task, opened only when the driver gave a target, as
:class:`streaming.batch_writer.LakeTask` does), the driver's commit and merge. A crash is an
attempt that stops at a point and a replay that starts again from ``before_tasks`` with the
same batch id, as Spark does after a restart. The crashes of the real process (``kill -9``) are
in ``tests/streaming/test_storage_write_crashes.py``; the whole batch through Spark's tasks in
``tests/streaming/test_bigquery_storage_write_batch.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from emulators.bigquery import BigQueryEmulator
from streaming import bigquery_storage_write
from streaming.batch_writer import REJECTED_SCHEMA
from streaming.bigquery_loader import BigQueryTable
from streaming.bigquery_storage_write import (
    RejectedRowsStaging,
    StagingStart,
    StorageWriteStaging,
    StorageWriteTarget,
    StreamReport,
)
from streaming.event_sink import IdempotentEventSink
from tests.fixtures.bigquery import storage_write_calls
from tests.fixtures.warehouse_rows import EVENTS_SCHEMA, PUBLISHED, event_version, events_table

LATE_CUTOFF = PUBLISHED - dt.timedelta(hours=24)
ROW_CARRYING_CALLS = ("CreateWriteStream", "AppendRows", "BatchCommitWriteStreams")


@pytest.fixture
def staging(
    bigquery_emulator: BigQueryEmulator, event_sink: IdempotentEventSink
) -> StorageWriteStaging:
    return StorageWriteStaging(event_sink, EVENTS_SCHEMA, bigquery_emulator.grpc_endpoint)


@pytest.fixture
def rejected_staging(
    bigquery_emulator: BigQueryEmulator, rejected_table: BigQueryTable
) -> RejectedRowsStaging:
    return RejectedRowsStaging(rejected_table, REJECTED_SCHEMA, bigquery_emulator.grpc_endpoint)


def _prefix(staging: StorageWriteStaging | RejectedRowsStaging) -> str:
    # Job ids are per project and the emulator is shared by the session: one query per test.
    return f"olist_query_{staging.table.dataset}"


def _task(target: StorageWriteTarget | None, table: Any) -> StreamReport | None:
    """One Spark task's part: its rows to a PENDING stream of its own, finalized; nothing
    without a target (the driver found the batch committed or applied)."""
    if target is None:
        return None
    writer = target.open_writer()
    writer.append(table)
    return writer.finish()


def _tasks(start: StagingStart[Any], *tables: Any) -> list[StreamReport]:
    return [report for table in tables if (report := _task(start.target, table)) is not None]


def _calls(emulator: BigQueryEmulator) -> dict[str, int]:
    counts = storage_write_calls(emulator)
    return {method: counts[method] for method in ROW_CARRYING_CALLS}


def _history(staging: StorageWriteStaging) -> list[str]:
    sql = f"SELECT event_id FROM `{staging.history.table_id}` ORDER BY 1"
    return [row.event_id for row in staging.history.client.query(sql).result()]


def _current(staging: StorageWriteStaging) -> list[tuple[str, int]]:
    sql = f"SELECT order_id, source_sequence FROM `{staging.sink.current.table_id}` ORDER BY 1"
    result = staging.history.client.query(sql).result()
    return [(row.order_id, row.source_sequence) for row in result]


def _tables(staging: StorageWriteStaging | RejectedRowsStaging) -> list[str]:
    client = staging.table.client
    return sorted(table.table_id for table in client.list_tables(staging.table.dataset))


FIRST_TASK = events_table([event_version(item, 1) for item in range(1, 4)])
SECOND_TASK = events_table([event_version(item, 1) for item in range(4, 6)] + [event_version(1, 2)])


def _event_ids(*tables: Any) -> list[str]:
    return sorted(str(event_id) for table in tables for event_id in table["event_id"].to_pylist())


EVERY_EVENT = _event_ids(FIRST_TASK, SECOND_TASK)


def test_two_tasks_streams_land_once_in_the_history_and_the_current_state(
    staging: StorageWriteStaging,
) -> None:
    start = staging.before_tasks(_prefix(staging), 0)
    assert start.target is not None and start.done is None

    outcome = staging.after_tasks(start, _tasks(start, FIRST_TASK, SECOND_TASK), LATE_CUTOFF)

    assert (outcome.staged_rows, outcome.new_events, outcome.duplicate_rows) == (6, 6, 0)
    assert _history(staging) == EVERY_EVENT
    # Item 1's version 2 replaced version 1; items 2 to 5 at version 1.
    assert _current(staging) == [(f"{item:032x}", 2 if item == 1 else 1) for item in range(1, 6)]
    assert _tables(staging) == ["order_events", "order_items_current"]  # staging dropped


def test_a_replay_after_the_commit_appends_and_commits_nothing(
    staging: StorageWriteStaging, bigquery_emulator: BigQueryEmulator
) -> None:
    prefix = _prefix(staging)
    first = staging.before_tasks(prefix, 7)
    committed = staging.commit(_tasks(first, FIRST_TASK, SECOND_TASK), prefix, 7)
    assert committed.rows == 6
    # Killed here, between the commit and the merge.
    calls_before_replay = _calls(bigquery_emulator)

    replay = staging.before_tasks(prefix, 7)
    assert (replay.target, replay.committed_rows, replay.done) == (None, 6, None)
    outcome = staging.after_tasks(replay, _tasks(replay, FIRST_TASK, SECOND_TASK), LATE_CUTOFF)

    # The replay opened no stream, appended no row and committed nothing: it merged.
    assert _calls(bigquery_emulator) == calls_before_replay
    assert (outcome.staged_rows, outcome.duplicate_rows) == (6, 0)
    assert _history(staging) == EVERY_EVENT
    assert _tables(staging) == ["order_events", "order_items_current"]


def test_streams_of_an_attempt_killed_before_the_commit_never_land(
    staging: StorageWriteStaging,
) -> None:
    prefix = _prefix(staging)
    first = staging.before_tasks(prefix, 3)
    _tasks(first, FIRST_TASK)  # appended and finalized, then the driver died: no commit

    replay = staging.before_tasks(prefix, 3)
    assert replay.target is not None and replay.committed_rows == 0
    outcome = staging.after_tasks(replay, _tasks(replay, FIRST_TASK, SECOND_TASK), LATE_CUTOFF)

    assert (outcome.staged_rows, outcome.duplicate_rows) == (6, 0)
    assert _history(staging) == EVERY_EVENT


def test_a_replay_of_a_merged_batch_appends_and_commits_nothing(
    staging: StorageWriteStaging, bigquery_emulator: BigQueryEmulator
) -> None:
    prefix = _prefix(staging)
    first = staging.before_tasks(prefix, 1)
    done = staging.after_tasks(first, _tasks(first, FIRST_TASK), LATE_CUTOFF)
    calls_before_replay = _calls(bigquery_emulator)

    replay = staging.before_tasks(prefix, 1)

    assert replay.target is None and replay.done is not None
    assert (replay.done.already_loaded, replay.done.job_id) == (True, done.job_id)
    assert staging.after_tasks(replay, _tasks(replay, FIRST_TASK), LATE_CUTOFF) == replay.done
    assert _calls(bigquery_emulator) == calls_before_replay
    assert _history(staging) == _event_ids(FIRST_TASK)
    assert _tables(staging) == ["order_events", "order_items_current"]


def test_a_task_without_valid_rows_opens_no_stream_and_the_batch_no_staging_table(
    staging: StorageWriteStaging,
) -> None:
    start = staging.before_tasks(_prefix(staging), 2)
    assert start.target is not None
    writer = start.target.open_writer()
    writer.append(events_table([]))
    assert writer.finish() is None

    outcome = staging.after_tasks(start, [], LATE_CUTOFF)

    assert (outcome.job_id, outcome.staged_rows) == ("", 0)
    assert _tables(staging) == ["order_events", "order_items_current"]


def test_rows_over_the_request_size_go_in_several_appends_at_consecutive_offsets(
    staging: StorageWriteStaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [event_version(item, 1) for item in range(1, 41)]
    table = events_table(rows)
    # A request limit of ~7 rows' bytes: 40 rows take 6 appends, offsets 0, 7, 14...
    monkeypatch.setattr(
        bigquery_storage_write, "MAX_REQUEST_BYTES", 7 * table.nbytes // table.num_rows
    )
    sent: list[int] = []
    start = staging.before_tasks(_prefix(staging), 4)
    assert start.target is not None
    writer = start.target.open_writer()
    writer.append(table)
    assert writer._stream is not None
    original_send = writer._stream.send

    def recording_send(request: Any) -> Any:
        sent.append(int(request.offset))
        return original_send(request)

    writer._stream.send = recording_send
    writer.append(table)  # the same 40 rows again, now recorded
    report = writer.finish()

    assert report is not None and report.rows == 80
    assert sent == list(range(40, 80, 7))
    outcome = staging.after_tasks(start, [report], LATE_CUTOFF)
    assert (outcome.staged_rows, outcome.new_events, outcome.duplicate_rows) == (80, 40, 40)


def _rejected(count: int, first: int = 0) -> Any:
    import pyarrow as pa

    rows = [
        {
            "rejected_date": PUBLISHED.date(), "pubsub_message_id": f"m{index}",
            "pubsub_publish_time": PUBLISHED, "event_index": 0, "attributes_json": "{}",
            "raw_payload": b"\xff{not json %d" % index, "reason": "not UTF-8",
            "stream_batch_id": 5,
        }
        for index in range(first, first + count)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=REJECTED_SCHEMA)


def _rejected_payloads(staging: RejectedRowsStaging) -> list[bytes]:
    sql = f"SELECT raw_payload FROM `{staging.table.table_id}` ORDER BY pubsub_message_id"
    return [row.raw_payload for row in staging.table.client.query(sql).result()]


def test_rejected_rows_land_once_through_a_commit_and_an_insert_even_when_replayed(
    rejected_staging: RejectedRowsStaging, bigquery_emulator: BigQueryEmulator
) -> None:
    staging, prefix = rejected_staging, _prefix(rejected_staging)
    expected = _rejected(2).column("raw_payload").to_pylist() + (
        _rejected(1, first=2).column("raw_payload").to_pylist()
    )
    first = staging.before_tasks(prefix, 5)
    staging.commit(_tasks(first, _rejected(2), _rejected(1, first=2)), prefix, 5)
    # Killed between the commit and the insert: the replay appends nothing and inserts.
    calls_before_replay = _calls(bigquery_emulator)
    replay = staging.before_tasks(prefix, 5)
    assert (replay.target, replay.committed_rows) == (None, 3)
    inserted = staging.after_tasks(replay, _tasks(replay, _rejected(3)), LATE_CUTOFF)
    assert _calls(bigquery_emulator) == calls_before_replay
    assert inserted.already_done is False
    assert inserted.job_id == f"{prefix}_order_events_rejected_5"

    # Killed after the insert, before Spark's commit: the second replay finds the job.
    again = staging.before_tasks(prefix, 5)
    assert (again.target, again.done) == (None, type(inserted)(inserted.job_id, True))
    assert staging.after_tasks(again, _tasks(again, _rejected(3)), LATE_CUTOFF) == again.done
    assert _calls(bigquery_emulator) == calls_before_replay

    assert _rejected_payloads(staging) == expected
    assert _tables(staging) == ["order_events", "order_events_rejected", "order_items_current"]
