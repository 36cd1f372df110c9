"""The SQL that makes the BigQuery sink idempotent: history by ``event_id``, current state by item.

One micro-batch's valid rows are first loaded into a staging table of their own; then one
script (one query job, one transaction) applies them:

1. **History** (``order_events``): insert the staged rows whose ``event_id`` the table does not
   hold yet, one row per ``event_id``. ``event_id`` identifies one version of one item, so a
   re-emission of a version (producer retry, Pub/Sub redelivery, a replay, a ``seek``) is
   never loaded twice however late it comes, and a new version always is.
2. **Current state** (``order_items_current``): for every item the batch touched, the latest
   version *in the history* (highest ``source_sequence``) replaces the table's row when it is
   newer, is inserted when the item is new, and deletes the row when it is a deletion. Reading
   the latest version from the history, not from the batch, is what keeps an older version
   arriving late from overwriting a newer one or resurrecting a deleted item.

Both statements only ever move the tables towards the same end state, so running the script
twice (a replay after a crash between the job and the commit) changes nothing.

Both look up the history only in the purchase dates the batch holds (partition pruning): an
item's versions share its purchase date (the order's purchase time never changes), and so do
the copies of one version.

Items are keyed by ``(order_id, order_item_id)``: schema v2's ``item_key`` is derived from
exactly these two, and unlike it they are set on version 1 events still in flight (where
``item_key`` is null and would never match). Deletions are recognised by ``change_type`` when
the schema has it (:func:`current_state_key`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.fields import FieldSpec

ORDER_FIELD = "source_sequence"
"""Versions of one item are ordered by the source's commit order."""

DELETED_CHANGE_TYPE = "deleted"


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


def staged_counts_sql(
    history: str, staging: str, partition_field: str, late_cutoff: dt.datetime
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
  WHERE {partition_field} IN (SELECT DISTINCT {partition_field} FROM {_quoted(staging)})
) AS h ON s.event_id = h.event_id
"""


def merge_script(
    history: str,
    current: str,
    staging: str,
    columns: Sequence[str],
    partition_field: str,
    key: CurrentStateKey,
) -> str:
    """The batch's script: insert new versions into the history, then merge the current state."""
    column_list = ", ".join(columns)
    staged_dates = f"SELECT DISTINCT {partition_field} FROM {_quoted(staging)}"
    key_list = ", ".join(key.key_fields)
    key_match = " AND ".join(f"h.{name} = k.{name}" for name in key.key_fields)
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
    return f"""
BEGIN TRANSACTION;
INSERT INTO {_quoted(history)} ({column_list})
SELECT {", ".join(f"s.{name}" for name in columns)}
FROM {_quoted(staging)} AS s
WHERE s.event_id NOT IN (
  SELECT event_id FROM {_quoted(history)} WHERE {partition_field} IN ({staged_dates})
)
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY s.event_id ORDER BY s.pubsub_publish_time, s.pubsub_message_id
) = 1;
MERGE {_quoted(current)} AS T
USING (
  SELECT {", ".join(f"h.{name}" for name in columns)}
  FROM {_quoted(history)} AS h
  JOIN (SELECT DISTINCT {key_list} FROM {_quoted(staging)}) AS k ON {key_match}
  WHERE h.{partition_field} IN ({staged_dates})
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY {", ".join(f"h.{name}" for name in key.key_fields)}
    ORDER BY h.{ORDER_FIELD} DESC
  ) = 1
) AS S
ON {merge_on}
WHEN MATCHED AND {deleted} THEN DELETE
WHEN MATCHED AND S.{ORDER_FIELD} > T.{ORDER_FIELD} THEN UPDATE SET {updates}
WHEN NOT MATCHED BY TARGET AND {not_deleted} THEN INSERT ({column_list}) VALUES ({inserted});
COMMIT TRANSACTION;
"""
