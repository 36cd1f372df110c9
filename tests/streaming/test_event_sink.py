"""The idempotent BigQuery sink against fake-gcs-server and the BigQuery emulator.

History (``order_events``) holds each ``event_id`` once however late a copy comes; the current
state (``order_items_current``) holds the latest version of each item whatever the order of
arrival.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from emulators.gcs import FakeGcsServer
from streaming.event_sink import IdempotentEventSink
from streaming.lake_writer import LakeWriter
from streaming.partition_stream import write_parts
from tests.fixtures.warehouse_rows import PUBLISHED as NOW
from tests.fixtures.warehouse_rows import event_version as version
from tests.fixtures.warehouse_rows import events_table

WINDOW = dt.timedelta(hours=24)


class Batches:
    """Writes batches to the lake and hands them to the sink, as the job's driver does."""

    def __init__(self, lake: LakeWriter, sink: IdempotentEventSink, query_id: str) -> None:
        self.lake, self.sink, self.query_id = lake, sink, query_id
        self.next_id = 0

    def apply(self, rows: list[dict[str, Any]], batch_id: int | None = None) -> Any:
        if batch_id is None:
            batch_id, self.next_id = self.next_id, self.next_id + 1
        table = events_table(rows)
        written = write_parts(self.lake, table, self.query_id, batch_id, task=0)
        self.lake.finish_batch(written, self.query_id, batch_id)
        uris = self.lake.load_uris(written, self.query_id, batch_id)
        return self.sink.load_batch(uris, f"olist_{self.query_id}", batch_id, NOW - WINDOW)


@pytest.fixture
def batches(
    gcs_server: FakeGcsServer, gcs_bucket: str, event_sink: IdempotentEventSink
) -> Iterator[Batches]:
    lake = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    # Job ids are per project, and the emulator is shared by the session: one query per test.
    yield Batches(lake, event_sink, f"query-{event_sink.history.dataset}")


def _history(sink: IdempotentEventSink) -> list[tuple[str, int]]:
    sql = f"SELECT event_id, source_sequence FROM `{sink.history.table_id}` ORDER BY 1"
    return [(row.event_id, row.source_sequence) for row in sink.history.client.query(sql).result()]


def _current(sink: IdempotentEventSink) -> list[tuple[str, int, Decimal]]:
    sql = f"SELECT order_id, source_sequence, price FROM `{sink.current.table_id}` ORDER BY 1"
    return [
        (row.order_id, row.source_sequence, row.price)
        for row in sink.current.client.query(sql).result()
    ]


def test_an_event_older_than_the_window_is_loaded_and_counted_late(batches: Batches) -> None:
    old = NOW - 3 * WINDOW
    outcome = batches.apply([version(1, 1), version(2, 2, published=old)])
    assert _history(batches.sink) == [
        (version(1, 1)["event_id"], 1),
        (version(2, 2)["event_id"], 2),
    ]
    assert (outcome.staged_rows, outcome.new_events, outcome.duplicate_rows) == (2, 2, 0)
    assert outcome.late_rows == 1


def test_a_duplicate_older_than_the_window_is_not_loaded_twice(batches: Batches) -> None:
    batches.apply([version(1, 1), version(2, 2)])
    # The same version again, days later (a seek, a producer replaying its window), plus one
    # copy twice within the batch and a new event.
    outcome = batches.apply([version(1, 1), version(3, 3), version(3, 3)])
    assert [sequence for _, sequence in _history(batches.sink)] == [1, 2, 3]
    assert (outcome.staged_rows, outcome.new_events, outcome.duplicate_rows) == (3, 1, 2)


def test_a_replayed_batch_changes_nothing(batches: Batches) -> None:
    rows = [version(1, 1), version(2, 2)]
    first = batches.apply(rows, batch_id=7)
    replay = batches.apply(rows, batch_id=7)
    assert (first.already_loaded, replay.already_loaded) == (False, True)
    assert replay.job_id == first.job_id == f"olist_{batches.query_id}_order_events_7_merge"
    assert len(_history(batches.sink)) == 2
    assert len(_current(batches.sink)) == 2
    tables = [
        t.table_id for t in batches.sink.history.client.list_tables(batches.sink.history.dataset)
    ]
    assert sorted(tables) == ["order_events", "order_items_current"]  # staging dropped


def test_an_older_version_arriving_late_never_overwrites_a_newer_one(batches: Batches) -> None:
    """Version 2 of an item is delivered before version 1, in separate batches."""
    batches.apply([version(1, sequence=20, price=30)])
    batches.apply([version(1, sequence=10, price=15), version(2, sequence=11)])
    assert _current(batches.sink) == [
        (f"{1:032x}", 20, Decimal("30.00")),
        (f"{2:032x}", 11, Decimal("10.00")),
    ]
    # A newer version replaces it; the history keeps every version once.
    batches.apply([version(1, sequence=30, price=40)])
    assert _current(batches.sink)[0] == (f"{1:032x}", 30, Decimal("40.00"))
    assert [sequence for _, sequence in _history(batches.sink)] == [10, 20, 30, 11]


def test_a_deleted_item_leaves_the_current_state_and_a_late_older_version_keeps_it_out(
    batches: Batches,
) -> None:
    """Schema v2: the latest version of item 1 is a deletion; version 1 arrives after it."""
    created = {**version(1, 10), "change_type": "created", "item_version": 1}
    deleted = {**version(1, 30), "change_type": "deleted", "item_version": 3}
    updated = {**version(1, 20), "change_type": "updated", "item_version": 2}
    batches.apply([created, {**version(2, 11), "change_type": "created", "item_version": 1}])
    assert [order_id for order_id, _, _ in _current(batches.sink)] == [f"{1:032x}", f"{2:032x}"]
    batches.apply([deleted])
    batches.apply([updated])  # older than the deletion, delivered after it
    assert [order_id for order_id, _, _ in _current(batches.sink)] == [f"{2:032x}"]
    assert [sequence for _, sequence in _history(batches.sink)] == [10, 20, 30, 11]


def _on(row: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """``row`` bought on ``day`` (its purchase time and partition)."""
    bought = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return {**row, "order_purchase_timestamp": bought, "purchase_date": day}


def _current_dates(sink: IdempotentEventSink) -> list[tuple[str, int, dt.date]]:
    sql = (
        f"SELECT order_id, source_sequence, purchase_date FROM `{sink.current.table_id}` "
        "ORDER BY order_id, source_sequence"
    )
    return [
        (row.order_id, row.source_sequence, row.purchase_date)
        for row in sink.current.client.query(sql).result()
    ]


DAY_A, DAY_B = dt.date(2017, 10, 2), dt.date(2018, 3, 5)


def test_a_batch_names_its_dates_as_constants_and_leaves_items_on_other_dates_unchanged(
    batches: Batches, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches.apply([_on(version(1, 1), DAY_A), _on(version(2, 2), DAY_A), _on(version(3, 3), DAY_B)])
    before = _current(batches.sink)
    client = batches.sink.history.client
    sent: list[str] = []
    query = client.query

    def record(sql: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(sql)
        return query(sql, *args, **kwargs)

    monkeypatch.setattr(client, "query", record)
    batches.apply([_on(version(1, 4, price=99), DAY_A)])
    monkeypatch.undo()

    assert _current(batches.sink) == [
        (f"{1:032x}", 4, Decimal("99.00")),
        before[1],  # item 2: same date, not in the batch
        before[2],  # item 3: another date
    ]
    script = next(sql for sql in sent if "MERGE" in sql)
    counts = next(sql for sql in sent if "events_loaded_before" in sql)
    constant = f"purchase_date IN (DATE '{DAY_A.isoformat()}')"
    # The pruned MERGE's target; the history lookups of the INSERT, of both MERGEs' source and
    # of the duplicate count; the check for items stored on other dates: all on constants.
    assert f"ON T.{constant} AND T.order_id = S.order_id" in script
    assert script.count(constant) == 4
    assert f"T.purchase_date NOT IN (DATE '{DAY_A.isoformat()}')" in script
    assert constant in counts
    assert not [sql for sql in sent if re.search(r"\bIN \(SELECT", sql) or str(DAY_B) in sql]


def test_an_item_whose_purchase_date_changed_keeps_one_row_with_its_newest_version(
    batches: Batches,
) -> None:
    """The source lets an order's purchase time be updated: its next version is on another
    date; versions of either date may arrive late."""
    item = f"{1:032x}"
    batches.apply([_on(version(1, 10), DAY_A), _on(version(2, 11), DAY_A)])
    batches.apply([_on(version(1, 20), DAY_B)])  # the date changed A -> B
    assert _current_dates(batches.sink) == [(item, 20, DAY_B), (f"{2:032x}", 11, DAY_A)]
    batches.apply([_on(version(1, 15), DAY_A)])  # older, late, on the old date
    assert _current_dates(batches.sink)[0] == (item, 20, DAY_B)
    batches.apply([_on(version(1, 30), DAY_A)])  # changed back, newer
    assert _current_dates(batches.sink) == [(item, 30, DAY_A), (f"{2:032x}", 11, DAY_A)]
    deleted = {**_on(version(1, 40), DAY_B), "change_type": "deleted"}
    batches.apply([deleted])  # a newer deletion on the other date removes the row
    assert _current_dates(batches.sink) == [(f"{2:032x}", 11, DAY_A)]
    assert len(_history(batches.sink)) == 6


def test_a_deleted_item_stays_out_when_a_version_from_before_its_move_arrives_late(
    batches: Batches,
) -> None:
    """Versions as the source emits them when the purchase time changes: a deletion of the
    previous version on the old date, then the update on the new date, in one commit."""

    def shaped(sequence: int, day: dt.date, change_type: str, item_version: int) -> Any:
        return {
            **_on(version(1, sequence), day),
            "change_type": change_type,
            "item_version": item_version,
        }

    created = shaped(10, DAY_A, "created", 1)
    batches.apply([created])
    batches.apply([shaped(11, DAY_A, "deleted", 2), shaped(12, DAY_B, "updated", 3)])  # A -> B
    assert _current_dates(batches.sink) == [(f"{1:032x}", 12, DAY_B)]
    batches.apply([shaped(13, DAY_B, "deleted", 4)])
    assert _current_dates(batches.sink) == []
    # Version 1 redelivered late, alone on its date: the deletion there is newer.
    batches.apply([{**created, "pubsub_message_id": "m1-10-again"}])
    assert _current_dates(batches.sink) == []
    assert [sequence for _, sequence in _history(batches.sink)] == [10, 11, 12, 13]
