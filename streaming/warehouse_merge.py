"""The SQL that makes the BigQuery sink idempotent: history by ``event_id``, current state by item.

One micro-batch's valid rows are first loaded into a staging table of their own; their purchase
dates are read (:func:`staged_dates_sql`); then one script (one query job, one transaction)
applies them:

1. **History** (``order_events``): insert the staged rows whose ``event_id`` the table does not
   hold yet, one row per ``event_id``. ``event_id`` identifies one version of one item, so a
   re-emission of a version (producer retry, Pub/Sub redelivery, a replay, a ``seek``) is
   never loaded twice however late it comes, and a new version always is.
2. **Current state** (``order_items_current``): for every item the batch touched, the latest
   version *in the history* (highest ``source_sequence``) replaces the table's row when it is
   newer, is inserted when the item is new, and deletes the row when it is a newer deletion.
   Reading the latest version from the history, not from the batch, is what keeps an older
   version arriving late from overwriting a newer one or resurrecting a deleted item.

Both statements only ever move the tables towards the same end state, so running the script
twice (a replay after a crash between the job and the commit) changes nothing.

**Partition pruning.** Every read of a partitioned table is restricted to the batch's purchase
dates written as constants (``purchase_date IN (DATE '...', ...)``, :func:`date_literals`):
BigQuery prunes partitions on a constant filter of the partitioning column, in a MERGE's
``ON`` clause too, and not on ``IN (SELECT ...)`` (docs/design/architecture.md#current-state-
maintained-table-or-view). The copies of one version share its purchase date, so the history
lookups find every copy. The MERGE's target (every column of the partitions it scans is billed)
is restricted the same way, which holds as long as each of the batch's items is stored on one
of the batch's dates.

**A purchase date that changed.** The source lets an order's ``order_purchase_timestamp`` be
updated (a new version on another date), so before merging the script counts the batch's
items whose row in the current table lies on a date the batch does not hold (a scan of the key
and date columns). When there are none (the common case) the MERGE's target is pruned to the
batch's dates; when there are some, that batch's MERGE matches the whole target, so an item
never gets a second row and the newer of the stored row and the batch's latest version wins
(``source_sequence``), wherever each lies. The pruned history lookup only sees the batch's
dates, so an item absent from the table (deleted) whose older version arrives late on a date
without its deletion would be inserted again. The source rules that out: when a purchase time
changes it first appends a deletion of the previous version, on the old date, then the new
version (docs/design/source-feed.md#a-purchase-time-that-changes), so the latest version on
every date the item ever had is the right answer there, and an older version arriving late on
the old date meets that deletion (tests/streaming/test_event_sink.py).

Items are keyed by ``(order_id, order_item_id)``: schema v2's ``item_key`` is derived from
exactly these two, and unlike it they are set on version 1 events still in flight (where
``item_key`` is null and would never match). Deletions are recognised by ``change_type`` when
the schema has it (:func:`current_state_key`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.fields import FieldSpec

ORDER_FIELD = "source_sequence"
"""Versions of one item are ordered by the source's commit order."""

DELETED_CHANGE_TYPE = "deleted"

MOVED_ITEMS_VARIABLE = "items_on_other_dates"
"""Script variable: the batch's items stored in the current table outside the batch's dates."""


@dataclass(frozen=True)
class CurrentStateKey:
    """How the current state identifies an item and recognises its deletion."""

    key_fields: tuple[str, ...]
    change_type_field: str | None


def current_state_key(fields: Sequence[FieldSpec]) -> CurrentStateKey:
    """The item key and deletion marker the event schema offers."""
    names = {field.name for field in fields}
    return CurrentStateKey(
        ("order_id", "order_item_id"), "change_type" if "change_type" in names else None
    )


def _quoted(table_id: str) -> str:
    return f"`{table_id}`"


def date_literals(dates: Iterable[dt.date]) -> str:
    """The batch's purchase dates as a constant list for ``IN (...)``: BigQuery prunes a
    partitioned table on a constant filter of its partition column, never on a subquery's
    result. No dates (an empty batch) give a list that matches nothing."""
    literals = [f"DATE '{day.isoformat()}'" for day in sorted(set(dates))]
    return f"({', '.join(literals)})" if literals else "(CAST(NULL AS DATE))"


def staged_dates_sql(staging: str, partition_field: str) -> str:
    """The purchase dates the batch holds, one row each."""
    return f"SELECT DISTINCT {partition_field} AS day FROM {_quoted(staging)} ORDER BY day"


def staged_counts_sql(
    history: str,
    staging: str,
    partition_field: str,
    late_cutoff: dt.datetime,
    dates: Iterable[dt.date],
) -> str:
    """One row: staged rows, distinct events, events already in the history, late rows."""
    cutoff = late_cutoff.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    return f"""
SELECT
  COUNT(*) AS staged_rows,
  COUNT(DISTINCT s.event_id) AS distinct_events,
  COUNT(DISTINCT h.event_id) AS events_loaded_before,
  COUNTIF(s.pubsub_publish_time < TIMESTAMP '{cutoff}') AS late_rows
FROM {_quoted(staging)} AS s
LEFT JOIN (
  SELECT DISTINCT event_id FROM {_quoted(history)}
  WHERE {partition_field} IN {date_literals(dates)}
) AS h ON s.event_id = h.event_id
"""


def merge_script(
    history: str,
    current: str,
    staging: str,
    columns: Sequence[str],
    partition_field: str,
    key: CurrentStateKey,
    dates: Iterable[dt.date],
) -> str:
    """The batch's script: insert new versions into the history, then merge the current state.

    ``dates`` are the purchase dates the staging table holds (:func:`staged_dates_sql`).
    """
    column_list = ", ".join(columns)
    batch_dates = date_literals(dates)
    key_list = ", ".join(key.key_fields)
    key_match = " AND ".join(f"h.{name} = k.{name}" for name in key.key_fields)
    stored_match = " AND ".join(f"T.{name} = k.{name}" for name in key.key_fields)
    merge_on = " AND ".join(f"T.{name} = S.{name}" for name in key.key_fields)
    updates = ", ".join(f"{name} = S.{name}" for name in columns)
    inserted = ", ".join(f"S.{name}" for name in columns)
    deleted = (
        f"S.{key.change_type_field} = '{DELETED_CHANGE_TYPE}'" if key.change_type_field else "FALSE"
    )
    not_deleted = (
        f"COALESCE(S.{key.change_type_field}, '') != '{DELETED_CHANGE_TYPE}'"
        if key.change_type_field
        else "TRUE"
    )
    batch_keys = f"(SELECT DISTINCT {key_list} FROM {_quoted(staging)}) AS k"

    def merge(target_filter: str) -> str:
        return f"""MERGE {_quoted(current)} AS T
USING (
  SELECT {", ".join(f"h.{name}" for name in columns)}
  FROM {_quoted(history)} AS h
  JOIN {batch_keys} ON {key_match}
  WHERE h.{partition_field} IN {batch_dates}
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY {", ".join(f"h.{name}" for name in key.key_fields)}
    ORDER BY h.{ORDER_FIELD} DESC
  ) = 1
) AS S
ON {target_filter}{merge_on}
WHEN MATCHED AND S.{ORDER_FIELD} > T.{ORDER_FIELD} AND {deleted} THEN DELETE
WHEN MATCHED AND S.{ORDER_FIELD} > T.{ORDER_FIELD} THEN UPDATE SET {updates}
WHEN NOT MATCHED BY TARGET AND {not_deleted} THEN INSERT ({column_list}) VALUES ({inserted});"""

    return f"""
DECLARE {MOVED_ITEMS_VARIABLE} INT64 DEFAULT 0;
BEGIN TRANSACTION;
INSERT INTO {_quoted(history)} ({column_list})
SELECT {", ".join(f"s.{name}" for name in columns)}
FROM {_quoted(staging)} AS s
WHERE s.event_id NOT IN (
  SELECT event_id FROM {_quoted(history)} WHERE {partition_field} IN {batch_dates}
)
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY s.event_id ORDER BY s.pubsub_publish_time, s.pubsub_message_id
) = 1;
SET {MOVED_ITEMS_VARIABLE} = (
  SELECT COUNT(*) FROM {_quoted(current)} AS T
  JOIN {batch_keys} ON {stored_match}
  WHERE T.{partition_field} NOT IN {batch_dates}
);
IF {MOVED_ITEMS_VARIABLE} > 0 THEN
{merge("")}
ELSE
{merge(f"T.{partition_field} IN {batch_dates} AND ")}
END IF;
COMMIT TRANSACTION;
"""
