"""The Storage Write method against the BigQuery emulator's Storage Write API (gRPC).

Each test plays the job's parts in order: the driver's :meth:`before_tasks`, the tasks'
PENDING streams (one writer per task), the driver's commit and merge. A crash is an attempt
that stops at a point and a replay that starts again from ``before_tasks`` with the same batch
id, as Spark does after a restart. The crashes of the real process (``kill -9``) are in
``tests/streaming/test_storage_write_crashes.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from emulators.bigquery import BigQueryEmulator
from schemas import warehouse
from streaming import bigquery_storage_write
from streaming.bigquery_loader import BigQueryTable
from streaming.bigquery_storage_write import StorageWriteStaging, StorageWriteTarget, StreamReport
from streaming.event_sink import IdempotentEventSink
from tests.fixtures.warehouse_rows import EVENTS_SCHEMA, PUBLISHED, event_version, events_table

LATE_CUTOFF = PUBLISHED - dt.timedelta(hours=24)


@pytest.fixture
def staging(bigquery_emulator: BigQueryEmulator, bigquery_dataset: str) -> StorageWriteStaging:
    client = bigquery_emulator.client()
    fields = warehouse.order_events_table_fields()

    def table(name: str) -> BigQueryTable:
        return BigQueryTable(
            client, bigquery_dataset, name, fields,
            partition_field=warehouse.PARTITION_FIELD,
            clustering_fields=warehouse.CLUSTERING_FIELDS,
        )  # fmt: skip

    sink = IdempotentEventSink(table("order_events"), table("order_items_current"))
    sink.ensure_exists()
    return StorageWriteStaging(sink, EVENTS_SCHEMA, bigquery_emulator.grpc_endpoint)


def _prefix(staging: StorageWriteStaging) -> str:
    # Job ids are per project and the emulator is shared by the session: one query per test.
    return f"olist_query_{staging.history.dataset}"


def _task(target: StorageWriteTarget, rows: list[dict[str, Any]]) -> StreamReport:
    """One Spark task's part: its rows to a PENDING stream of its own, finalized."""
    writer = target.open_writer()
    writer.append(events_table(rows))
    report = writer.finish()
    assert report is not None
    return report


def _history(staging: StorageWriteStaging) -> list[str]:
    sql = f"SELECT event_id FROM `{staging.history.table_id}` ORDER BY 1"
    return [row.event_id for row in staging.history.client.query(sql).result()]


def _current(staging: StorageWriteStaging) -> list[tuple[str, int]]:
    sql = f"SELECT order_id, source_sequence FROM `{staging.sink.current.table_id}` ORDER BY 1"
    result = staging.history.client.query(sql).result()
    return [(row.order_id, row.source_sequence) for row in result]


def _tables(staging: StorageWriteStaging) -> list[str]:
    client = staging.history.client
    return sorted(table.table_id for table in client.list_tables(staging.history.dataset))


FIRST_TASK = [event_version(item, 1) for item in range(1, 4)]
SECOND_TASK = [event_version(item, 1) for item in range(4, 6)] + [event_version(1, 2)]
EVERY_EVENT = sorted(row["event_id"] for row in FIRST_TASK + SECOND_TASK)


def test_two_tasks_streams_land_once_in_the_history_and_the_current_state(
    staging: StorageWriteStaging,
) -> None:
    prefix = _prefix(staging)
    target, merged = staging.before_tasks(prefix, 0)
    assert merged is None and target is not None
    streams = [_task(target, FIRST_TASK), _task(target, SECOND_TASK)]

    outcome = staging.after_tasks(streams, prefix, 0, LATE_CUTOFF)

    assert (outcome.staged_rows, outcome.new_events, outcome.duplicate_rows) == (6, 6, 0)
    assert _history(staging) == EVERY_EVENT
    # Item 1's version 2 replaced version 1; items 2 to 5 at version 1.
    assert _current(staging) == [(f"{item:032x}", 2 if item == 1 else 1) for item in range(1, 6)]
    assert _tables(staging) == ["order_events", "order_items_current"]  # staging dropped


def test_a_replay_after_the_commit_commits_nothing_twice(staging: StorageWriteStaging) -> None:
    prefix = _prefix(staging)
    target, _ = staging.before_tasks(prefix, 7)
    assert target is not None
    first = staging.commit([_task(target, FIRST_TASK), _task(target, SECOND_TASK)], prefix, 7)
    assert (first.rows, first.already_committed) == (6, False)
    # Killed here, between the commit and the merge: the replay's tasks append again.

    replay_target, merged = staging.before_tasks(prefix, 7)
    assert merged is None and replay_target == target
    streams = [_task(replay_target, FIRST_TASK), _task(replay_target, SECOND_TASK)]
    assert staging.commit(streams, prefix, 7).already_committed
    outcome = staging.after_tasks(streams, prefix, 7, LATE_CUTOFF)

    # The staging table held the first attempt's 6 rows only: the replay's were not committed.
    assert (outcome.staged_rows, outcome.duplicate_rows) == (6, 0)
    assert _history(staging) == EVERY_EVENT


def test_streams_of_an_attempt_killed_before_the_commit_never_land(
    staging: StorageWriteStaging,
) -> None:
    prefix = _prefix(staging)
    target, _ = staging.before_tasks(prefix, 3)
    assert target is not None
    _task(target, FIRST_TASK)  # appended and finalized, then the driver died: no commit

    replay_target, _ = staging.before_tasks(prefix, 3)
    assert replay_target is not None
    outcome = staging.after_tasks(
        [_task(replay_target, FIRST_TASK), _task(replay_target, SECOND_TASK)], prefix, 3,
        LATE_CUTOFF,
    )  # fmt: skip

    assert (outcome.staged_rows, outcome.duplicate_rows) == (6, 0)
    assert _history(staging) == EVERY_EVENT


def test_a_replay_of_a_merged_batch_appends_and_commits_nothing(
    staging: StorageWriteStaging,
) -> None:
    prefix = _prefix(staging)
    target, _ = staging.before_tasks(prefix, 1)
    assert target is not None
    done = staging.after_tasks([_task(target, FIRST_TASK)], prefix, 1, LATE_CUTOFF)

    target_again, merged = staging.before_tasks(prefix, 1)

    assert target_again is None and merged is not None
    assert (merged.already_loaded, merged.job_id) == (True, done.job_id)
    assert _history(staging) == sorted(row["event_id"] for row in FIRST_TASK)
    assert _tables(staging) == ["order_events", "order_items_current"]


def test_a_task_without_valid_rows_opens_no_stream_and_the_batch_no_staging_table(
    staging: StorageWriteStaging,
) -> None:
    prefix = _prefix(staging)
    target, _ = staging.before_tasks(prefix, 2)
    assert target is not None
    writer = target.open_writer()
    writer.append(events_table([]))
    assert writer.finish() is None

    outcome = staging.after_tasks([], prefix, 2, LATE_CUTOFF)

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
    prefix = _prefix(staging)
    target, _ = staging.before_tasks(prefix, 4)
    assert target is not None
    writer = target.open_writer()
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
    outcome = staging.after_tasks([report], prefix, 4, LATE_CUTOFF)
    assert (outcome.staged_rows, outcome.new_events, outcome.duplicate_rows) == (80, 40, 40)
