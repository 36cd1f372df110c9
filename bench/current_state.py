"""Current state of the order items at N versions: a maintained table or a view over the history.

``python -m bench.current_state --versions 1000000`` starts bqemulator (tables in a DuckDB file
of a temporary folder), loads a history of N versions into ``order_events`` from Parquet (one
load job; five versions per item, as an order moves created -> approved -> shipped ->
delivered -> reviewed; one item in 100 ends deleted; purchase dates spread over two years),
builds ``order_items_current`` from it, creates the view over the history (latest version per
item by ``source_sequence``, deleted items removed), then measures in the same run:

1. **baseline batch**: the part of each micro-batch both designs pay: the history ``INSERT``
   of a typical batch (``--batch-rows`` new versions of items bought in the last 30 days);
2. **maintained batch**: the job's whole script (``streaming.warehouse_merge.merge_script``:
   that ``INSERT``, the check for items stored on other dates, then the ``MERGE`` of the
   current state);
3. **table read**: a dashboard query (items and revenue per customer state) on the table;
4. **view read**: the same query through the view.

Both reads must give the same answer (checked). Wall times are the emulator's (DuckDB on this
machine, and the emulator copies a table it writes for time travel), not BigQuery's: the
decision rests on **bytes billed**, computed from the tables' contents with BigQuery's
on-demand model (docs/design/architecture.md#current-state-maintained-table-or-view):

* a column's logical size per row: INT64, FLOAT64, TIMESTAMP, DATE 8 B; NUMERIC 16 B; BOOL
  1 B; STRING 2 B + its UTF-8 bytes; a REPEATED column the sum of its elements; NULL 0 B;
* a query is billed the referenced columns of every table it reads, in the partitions it
  scans, at least 10 MB per table; each statement of the script is billed on its own; the
  script's partition filters are the batch's purchase dates as constants, so the history's
  lookups and the MERGE's target (``order_items_current``; every column is billed there:
  ``UPDATE SET`` names them all) are pruned to the batch's dates; the check for the batch's
  items stored on other dates reads the current table's key and date columns in every other
  partition. ``batch_merge_whole_target_bytes`` is the MERGE with its target scanned whole (as
  it was before the pruning, and as it still runs for a batch that finds such an item).

Prints a table, then as the last line one JSON object: figures, ratios, and
``break_even_reads_per_batch`` (view reads per micro-batch above which the maintained table
costs fewer bytes).

``--model-only`` computes the bytes billed alone, without the emulator, nothing written to disk:
the tables' sizes per column and purchase date are computed from one sized row per version
(:func:`modelled_sizes`, equal to the sizes of every generated version: tested), in well under
a minute at 10M versions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from emulators.bigquery import BigQueryEmulator
from schemas import warehouse
from schemas.derive import arrow_schema
from schemas.examples import EXAMPLE_EVENT
from schemas.log_format import configure_logging
from schemas.order_event import BRAZILIAN_STATES, OrderEvent
from streaming.bigquery_loader import BigQueryTable
from streaming.warehouse_merge import (
    DELETED_CHANGE_TYPE,
    MOVED_ITEMS_VARIABLE,
    current_state_key,
    merge_script,
)

log = logging.getLogger("bench.current_state")

FIELDS = warehouse.order_events_table_fields()
COLUMNS = [spec.name for spec in FIELDS]
SCHEMA = arrow_schema(FIELDS)
VERSIONS_PER_ITEM = 5
STATUSES = ("created", "approved", "shipped", "delivered", "delivered")
"""Status of each version: the fifth is the review."""
DELETED_EVERY = 100
"""Item ``i`` ends deleted when ``i % DELETED_EVERY == 0``."""
PURCHASE_DAYS = 730
RECENT_DAYS = 30
"""A batch's versions belong to items bought in the last RECENT_DAYS days (their life cycle)."""
FIRST_DATE = dt.date(2024, 1, 1)
CHUNK_ROWS = 500_000
MIN_BILLED_BYTES = 10 * 2**20
"""On-demand queries are billed at least 10 MB per table referenced."""
DASHBOARD_COLUMNS = ("customer_state", "price")
KEY_COLUMNS = ("order_id", "order_item_id", "source_sequence", "change_type")
DASHBOARD_SQL = (
    "SELECT customer_state, COUNT(*) AS items, SUM(price) AS revenue FROM {source} "
    "GROUP BY customer_state ORDER BY customer_state"
)


def view_sql(history: str) -> str:
    """The current state as a view over the history: latest version per item, not deleted."""
    columns = ", ".join(COLUMNS)
    key = ", ".join(current_state_key(FIELDS).key_fields)
    return f"""
SELECT {columns} FROM (
  SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY source_sequence DESC)
    AS version_rank
  FROM `{history}`
)
WHERE version_rank = 1 AND COALESCE(change_type, '') != '{DELETED_CHANGE_TYPE}'
"""


def history_insert_script(script: str) -> str:
    """The job's script without its current-state part: what a batch costs when the current
    state is a view.

    Cut from :func:`merge_script` itself so the baseline runs the job's exact INSERT.
    """
    head, current_state = script.split(f"\nSET {MOVED_ITEMS_VARIABLE} ", 1)
    if "COMMIT TRANSACTION;" not in current_state:
        raise ValueError("merge_script changed shape: expected SET ... COMMIT TRANSACTION")
    return head + "\nCOMMIT TRANSACTION;\n"


# Logical sizes (BigQuery's on-demand model), per row and column.


def _row_bytes(column: pa.ChunkedArray[Any] | pa.Array[Any]) -> np.ndarray:
    """BigQuery's logical bytes of each value of ``column`` (NULL: 0)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    valid = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        lengths = pc.fill_null(pc.binary_length(array), 0).to_numpy(  # type: ignore[call-overload]
            zero_copy_only=False
        )
        return valid * 2 + np.asarray(lengths, dtype=np.int64)
    if pa.types.is_list(kind):
        elements = _row_bytes(pc.list_flatten(array))
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        sizes = np.zeros(len(array), dtype=np.int64)
        np.add.at(sizes, parents, elements)
        return sizes
    if pa.types.is_decimal(kind):
        return valid * 16
    if pa.types.is_boolean(kind):
        return valid
    return valid * 8  # INT64, FLOAT64, TIMESTAMP, DATE


@dataclass
class TableSizes:
    """Logical bytes of a table per column and purchase date (day number from FIRST_DATE)."""

    by_column: dict[str, np.ndarray] = field(
        default_factory=lambda: {name: np.zeros(PURCHASE_DAYS, np.int64) for name in COLUMNS}
    )
    rows: int = 0

    def add(self, table: pa.Table) -> None:
        days = _day_numbers(table)
        for name in COLUMNS:
            self.by_column[name] += np.bincount(
                days, weights=_row_bytes(table.column(name)), minlength=PURCHASE_DAYS
            ).astype(np.int64)
        self.rows += table.num_rows

    def bytes(self, columns: Sequence[str], days: np.ndarray | None = None) -> int:
        """Bytes of ``columns`` in the partitions ``days`` (all partitions by default)."""
        return int(
            sum(
                self.by_column[name].sum() if days is None else self.by_column[name][days].sum()
                for name in columns
            )
        )


def _day_numbers(table: pa.Table) -> np.ndarray:
    dates = table.column(warehouse.PARTITION_FIELD).cast(pa.int32()).to_numpy()
    return np.asarray(dates - (FIRST_DATE - dt.date(1970, 1, 1)).days, dtype=np.int64)


def billed(*table_bytes: int) -> int:
    """Bytes billed for one query reading tables of these sizes (10 MB minimum each)."""
    return sum(max(size, MIN_BILLED_BYTES) for size in table_bytes)


# Synthetic versions: the example event, varied where it matters for size and for the key.

_TEMPLATE = pa.Table.from_pylist(
    [
        {
            **OrderEvent.model_validate(EXAMPLE_EVENT).model_dump(),
            "purchase_date": FIRST_DATE,
            "delivery_time_hours": 200.5,
            "delivery_time_days": 8.35,
            "delivery_delay_days": -7.1,
            "delivered_late": False,
            "freight_share": 0.29,
            "pubsub_message_id": "0" * 16,
            "pubsub_publish_time": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "stream_batch_id": 0,
        }
    ],
    schema=SCHEMA,
)
_NOT_YET: dict[int, tuple[str, ...]] = {
    # version index: columns still null at that version
    0: ("order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date"),
    1: ("order_delivered_carrier_date", "order_delivered_customer_date"),
    2: ("order_delivered_customer_date",),
}
_DELIVERY_COLUMNS = (
    "delivery_time_hours", "delivery_time_days", "delivery_delay_days", "delivered_late",
)  # fmt: skip
_REVIEW_COLUMNS = ("review_score", "review_creation_date", "review_answer_timestamp")


def versions_table(items: np.ndarray, version: int, sequences: np.ndarray) -> pa.Table:
    """Version ``version`` (0-based) of ``items``, with the given source sequences."""
    count = len(items)
    table = _TEMPLATE.take(np.zeros(count, dtype=np.int64))
    days = items % PURCHASE_DAYS
    deleted = (items % DELETED_EVERY == 0) & (version == VERSIONS_PER_ITEM - 1)
    nulls = set(_NOT_YET.get(version, ()))
    if version < 3:
        nulls.update(_DELIVERY_COLUMNS)
    if version < 4:
        nulls.update(_REVIEW_COLUMNS)
    purchase = np.datetime64("2024-01-01T10:00:00", "us") + days.astype("timedelta64[D]")
    changes: dict[str, Any] = {
        "event_id": [f"{s:08x}-0000-4000-8000-{s:012x}" for s in sequences],
        "source_sequence": sequences,
        "order_id": [f"{i:032x}" for i in items],
        "order_status": np.array(STATUSES)[np.full(count, version)],
        "order_purchase_timestamp": purchase,
        "customer_state": np.array(BRAZILIAN_STATES)[items % len(BRAZILIAN_STATES)],
        "price": pa.array((items % 500 + 10).astype(np.int32)).cast(pa.decimal128(12, 2)),
        "item_key": [f"{i:08x}-0000-4000-8000-{i:012x}" for i in items],
        "item_version": np.full(count, version + 1),
        "change_type": np.where(
            deleted, DELETED_CHANGE_TYPE, "created" if version == 0 else "updated"
        ),
        "purchase_date": days.astype("timedelta64[D]") + np.datetime64(FIRST_DATE, "D"),
        "pubsub_message_id": [f"{s:016x}" for s in sequences],
        "stream_batch_id": sequences // 10_000,
    }
    for name in COLUMNS:
        index = SCHEMA.get_field_index(name)
        if name in nulls:
            table = table.set_column(
                index, SCHEMA.field(index), pa.nulls(count, SCHEMA.field(index).type)
            )
        elif name in changes:
            column = pa.array(changes[name]).cast(SCHEMA.field(index).type)
            table = table.set_column(index, SCHEMA.field(index), column)
    return table


def history_chunks(items: int) -> Iterator[pa.Table]:
    """Every version of items ``0 .. items-1``; version ``v`` of item ``i`` has source sequence
    ``v * items + i + 1`` (the versions come in waves, as orders move on together)."""
    for version in range(VERSIONS_PER_ITEM):
        for start in range(0, items, CHUNK_ROWS):
            chunk = np.arange(start, min(start + CHUNK_ROWS, items), dtype=np.int64)
            yield versions_table(chunk, version, version * items + chunk + 1)


def batch_items(items: int, rows: int, number: int) -> np.ndarray:
    """``rows`` distinct live items bought in the last RECENT_DAYS days, different per batch."""
    recent = np.arange(items, dtype=np.int64)
    recent = recent[(recent % PURCHASE_DAYS >= PURCHASE_DAYS - RECENT_DAYS)]
    recent = recent[recent % DELETED_EVERY != 0]
    rng = np.random.default_rng(number)
    return np.sort(rng.choice(recent, size=min(rows, len(recent)), replace=False))


def billed_bytes(
    history_sizes: TableSizes, current_sizes: TableSizes, staging_sizes: TableSizes
) -> dict[str, Any]:
    """Bytes billed per batch and per read by each design, per the module docstring's model."""
    batch_days = np.flatnonzero(staging_sizes.by_column[warehouse.PARTITION_FIELD])
    other_days = np.setdiff1d(np.arange(PURCHASE_DAYS), batch_days)
    keys = ("order_id", "order_item_id")

    def history_dates(columns: Sequence[str]) -> int:
        return history_sizes.bytes(columns, batch_days)

    dates_bytes = billed(staging_sizes.bytes((warehouse.PARTITION_FIELD,)))
    counts_bytes = billed(
        staging_sizes.bytes(("event_id", "purchase_date", "pubsub_publish_time")),
        history_dates(("event_id", "purchase_date")),
    )
    insert_bytes = billed(
        staging_sizes.bytes(COLUMNS), history_dates(("event_id", "purchase_date"))
    )
    moved_check_bytes = billed(
        current_sizes.bytes((*keys, warehouse.PARTITION_FIELD), other_days),
        staging_sizes.bytes(keys),
    )
    merge_source = (history_dates(COLUMNS), staging_sizes.bytes(keys))
    merge_whole_target_bytes = billed(*merge_source, current_sizes.bytes(COLUMNS))
    merge_pruned_bytes = billed(*merge_source, current_sizes.bytes(COLUMNS, batch_days))
    merge_bytes = moved_check_bytes + merge_pruned_bytes
    table_read_bytes = billed(current_sizes.bytes(DASHBOARD_COLUMNS))
    view_read_bytes = billed(history_sizes.bytes((*DASHBOARD_COLUMNS, *KEY_COLUMNS)))
    extra_per_read = view_read_bytes - table_read_bytes

    def break_even(batch_bytes: int) -> float | None:
        # None: at this size a view read bills no more than a table read (10 MB minimums).
        return round(batch_bytes / extra_per_read, 2) if extra_per_read > 0 else None

    return {
        "history_bytes": history_sizes.bytes(COLUMNS),
        "current_bytes": current_sizes.bytes(COLUMNS),
        "batch_baseline_bytes": dates_bytes + counts_bytes + insert_bytes,
        "batch_merge_bytes": merge_bytes,
        "batch_moved_check_bytes": moved_check_bytes,
        "batch_merge_pruned_target_bytes": merge_pruned_bytes,
        "batch_merge_whole_target_bytes": merge_whole_target_bytes,
        "table_read_bytes": table_read_bytes,
        "view_read_bytes": view_read_bytes,
        "break_even_reads_per_batch": break_even(merge_bytes),
        "break_even_reads_per_batch_whole_target": break_even(merge_whole_target_bytes),
    }


def staged_batch(items: int, batch_rows: int, number: int, first_sequence: int) -> pa.Table:
    """Micro-batch ``number``: one new version (``updated``) of ``batch_rows`` recent items."""
    chosen = batch_items(items, batch_rows, number)
    sequences = first_sequence + np.arange(len(chosen), dtype=np.int64)
    staged = versions_table(chosen, VERSIONS_PER_ITEM - 1, sequences)
    staged = staged.set_column(
        COLUMNS.index("item_version"), SCHEMA.field("item_version"),
        pa.array(np.full(len(chosen), VERSIONS_PER_ITEM + number)),
    )  # fmt: skip
    return staged.set_column(
        COLUMNS.index("change_type"), SCHEMA.field("change_type"),
        pa.array(["updated"] * len(chosen)),
    )  # fmt: skip


def staged_dates(staged: pa.Table) -> list[dt.date]:
    """The purchase dates a staged batch holds (what the job reads before its script)."""
    return sorted({day for day in staged.column(warehouse.PARTITION_FIELD).to_pylist() if day})


def current_versions(chunk: pa.Table) -> pa.Table | None:
    """The rows of a history chunk that are in the current state (last version, not deleted)."""
    if int(pc.min(chunk.column("item_version")).as_py()) != VERSIONS_PER_ITEM:
        return None
    return chunk.filter(pc.not_equal(chunk.column("change_type"), pa.scalar(DELETED_CHANGE_TYPE)))


def exact_sizes(items: int) -> tuple[TableSizes, TableSizes]:
    """The history's and the current table's sizes, from every generated version (chunk by
    chunk): exact, and what the emulator run loads; minutes at millions of versions."""
    history_sizes, current_sizes = TableSizes(), TableSizes()
    for chunk in history_chunks(items):
        history_sizes.add(chunk)
        current = current_versions(chunk)
        if current is not None:
            current_sizes.add(current)
    return history_sizes, current_sizes


def modelled_sizes(items: int) -> tuple[TableSizes, TableSizes]:
    """The same sizes as :func:`exact_sizes`, computed: a generated version's size per column
    depends only on its version number (every varying string has a fixed width), so one sized
    row per version and deletion times the items per purchase date gives every partition.
    Checked against the exact sizes (tests/bench/test_current_state.py), and checked here: the
    sample rows of a version must all have the same size."""
    if VERSIONS_PER_ITEM * items + 1 >= 16**8:
        raise ValueError(f"{items:,} items: sequences pass 8 hex digits, sizes would vary")
    sample = np.array([0, 1, DELETED_EVERY + 1, items - 1], dtype=np.int64)
    deleted = sample % DELETED_EVERY == 0
    per_day = np.bincount(np.arange(items) % PURCHASE_DAYS, minlength=PURCHASE_DAYS)
    deleted_per_day = np.bincount(
        np.arange(0, items, DELETED_EVERY) % PURCHASE_DAYS, minlength=PURCHASE_DAYS
    )
    history_sizes, current_sizes = TableSizes(), TableSizes()
    for version in range(VERSIONS_PER_ITEM):
        table = versions_table(sample, version, version * items + sample + 1)
        last = version == VERSIONS_PER_ITEM - 1
        for name in COLUMNS:
            sizes = _row_bytes(table.column(name))
            live, gone = sizes[~deleted], sizes[deleted]
            if len(set(live)) != 1 or len(set(gone)) != 1:
                raise ValueError(f"{name}: version {version} rows differ in size: {sizes}")
            history_sizes.by_column[name] += (per_day - deleted_per_day) * live[0]
            history_sizes.by_column[name] += deleted_per_day * gone[0]
            if last:
                current_sizes.by_column[name] += (per_day - deleted_per_day) * live[0]
    history_sizes.rows = VERSIONS_PER_ITEM * items
    current_sizes.rows = int((per_day - deleted_per_day).sum())
    return history_sizes, current_sizes


def model_only(versions: int, batch_rows: int) -> dict[str, Any]:
    """Bytes billed alone, no emulator: the tables' sizes are computed
    (:func:`modelled_sizes`), nothing is written to disk, so the model reaches sizes the
    emulator cannot hold here; the batch is generated as in the run."""
    items = versions // VERSIONS_PER_ITEM
    started = time.perf_counter()
    history_sizes, current_sizes = modelled_sizes(items)
    staging_sizes = TableSizes()
    staging_sizes.add(staged_batch(items, batch_rows, 1, VERSIONS_PER_ITEM * items + 1))
    figures = billed_bytes(history_sizes, current_sizes, staging_sizes)
    print(f"\n{history_sizes.rows:,} versions, {items:,} items, batch of {batch_rows:,} versions"
          " (bytes billed by the model; no emulator)")  # fmt: skip
    print(f"{'per batch or per read':<50} {'MB billed':>10}")
    for label, name in (
        ("history INSERT per batch (both designs)", "batch_baseline_bytes"),
        ("MERGE per batch, whole target (before)", "batch_merge_whole_target_bytes"),
        ("check for items on other dates", "batch_moved_check_bytes"),
        ("MERGE per batch, target pruned to batch dates", "batch_merge_pruned_target_bytes"),
        ("current-state part per batch (check + pruned)", "batch_merge_bytes"),
        ("dashboard read, maintained table", "table_read_bytes"),
        ("dashboard read, view over history", "view_read_bytes"),
    ):
        print(f"{label:<50} {figures[name] / 2**20:>10.1f}")
    return {
        "versions": history_sizes.rows,
        "items": items,
        "current_rows": current_sizes.rows,
        "batch_rows": batch_rows,
        "model_only": True,
        "model_s": round(time.perf_counter() - started, 1),
        **figures,
    }


# The run.


@dataclass
class Figures:
    """Seconds of each repeated measurement."""

    seconds: dict[str, list[float]] = field(default_factory=dict)

    def time(self, name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = action()
        self.seconds.setdefault(name, []).append(time.perf_counter() - started)
        return result

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])


def run(versions: int, batch_rows: int, repeats: int) -> dict[str, Any]:
    """Build the history, take the measurements, print the table; return the JSON summary."""
    items = versions // VERSIONS_PER_ITEM
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="olist-bench-current-") as workdir:
        root = Path(workdir)
        (root / "gcs" / "bench").mkdir(parents=True)
        with BigQueryEmulator(gcs_root=root / "gcs", data_dir=root / "bigquery") as emulator:
            client = emulator.client()

            def table(name: str) -> BigQueryTable:
                return BigQueryTable(
                    client, "bench", name, FIELDS, partition_field=warehouse.PARTITION_FIELD,
                    clustering_fields=warehouse.CLUSTERING_FIELDS, job_timeout_seconds=7200,
                )  # fmt: skip

            history, current = table("order_events"), table("order_items_current")
            history.ensure_exists()
            current.ensure_exists()

            def query(sql: str) -> list[dict[str, Any]]:
                return [dict(row.items()) for row in client.query(sql).result(timeout=7200)]

            history_sizes = TableSizes()
            started = time.perf_counter()
            uris = []
            for number, chunk in enumerate(history_chunks(items)):
                history_sizes.add(chunk)
                pq.write_table(chunk, root / "gcs" / "bench" / f"history-{number:05d}.parquet")
                uris.append(f"gs://bench/history-{number:05d}.parquet")
            generate_seconds = time.perf_counter() - started
            figures.time("load", lambda: history.load_batch(uris, "bench", 0))
            view = f"{client.project}.bench.order_items_current_view"
            query(f"CREATE VIEW `{view}` AS {view_sql(history.table_id)}")
            column_list = ", ".join(COLUMNS)
            figures.time(
                "backfill",
                lambda: query(
                    f"INSERT INTO `{current.table_id}` ({column_list}) "
                    f"SELECT {column_list} FROM `{view}`"
                ),
            )
            current_rows = query(f"SELECT COUNT(*) AS n FROM `{current.table_id}`")[0]["n"]
            expected_current = items - len(range(0, items, DELETED_EVERY))
            if current_rows != expected_current:
                raise RuntimeError(
                    f"current table: {current_rows} rows, expected {expected_current}"
                )

            current_sizes = TableSizes()
            for chunk in history_chunks(items):
                live = current_versions(chunk)
                if live is not None:
                    current_sizes.add(live)

            next_sequence = VERSIONS_PER_ITEM * items + 1
            staging_sizes = TableSizes()
            for number in range(1, 2 * repeats + 1):
                staged = staged_batch(items, batch_rows, number, next_sequence)
                next_sequence += staged.num_rows
                if number == 1:
                    staging_sizes.add(staged)
                name = f"batch-{number:05d}.parquet"
                pq.write_table(staged, root / "gcs" / "bench" / name)
                history.load_staging([f"gs://bench/{name}"], "bench", number)
                staging = history.staging_table_id("bench", number)
                script = merge_script(
                    history.table_id, current.table_id, staging, COLUMNS,
                    warehouse.PARTITION_FIELD, current_state_key(FIELDS),
                    staged_dates(staged),
                )  # fmt: skip
                if number % 2:
                    figures.time("maintained_batch", partial(query, script))
                else:
                    figures.time("baseline_batch", partial(query, history_insert_script(script)))
                history.drop_staging("bench", number)

            table_answer = view_answer = None
            for _ in range(repeats):
                table_answer = figures.time(
                    "table_read",
                    lambda: query(DASHBOARD_SQL.format(source=f"`{current.table_id}`")),
                )
                view_answer = figures.time(
                    "view_read", lambda: query(DASHBOARD_SQL.format(source=f"`{view}`"))
                )
            client.close()  # type: ignore[no-untyped-call]
    if table_answer != view_answer:
        raise RuntimeError("the view and the maintained table answer differently")
    assert table_answer is not None
    items_read = sum(int(row["items"]) for row in table_answer)
    if items_read != expected_current:
        raise RuntimeError(f"dashboard read {items_read} items, expected {expected_current}")

    bytes_billed = billed_bytes(history_sizes, current_sizes, staging_sizes)
    summary = {
        "versions": history_sizes.rows,
        "items": items,
        "current_rows": current_rows,
        "batch_rows": batch_rows,
        "repeats": repeats,
        "generate_s": round(generate_seconds, 1),
        "load_s": round(figures.median("load"), 1),
        "backfill_s": round(figures.median("backfill"), 1),
        "baseline_batch_s": round(figures.median("baseline_batch"), 2),
        "maintained_batch_s": round(figures.median("maintained_batch"), 2),
        "batch_ratio": round(
            figures.median("maintained_batch") / figures.median("baseline_batch"), 2
        ),
        "table_read_s": round(figures.median("table_read"), 3),
        "view_read_s": round(figures.median("view_read"), 3),
        "read_ratio": round(figures.median("view_read") / figures.median("table_read"), 1),
        **bytes_billed,
    }
    rows = [
        ("history INSERT per batch (baseline)", "baseline_batch",
         bytes_billed["batch_baseline_bytes"]),
        ("INSERT + MERGE per batch (maintained)", "maintained_batch",
         bytes_billed["batch_baseline_bytes"] + bytes_billed["batch_merge_bytes"]),
        ("dashboard read, maintained table", "table_read", bytes_billed["table_read_bytes"]),
        ("dashboard read, view over history", "view_read", bytes_billed["view_read_bytes"]),
    ]  # fmt: skip
    print(f"\n{versions:,} versions, {items:,} items, batch of {batch_rows:,} versions")
    print(f"{'measurement':<42} {'seconds (median)':>17} {'MB billed':>10}")
    for label, name, size in rows:
        print(f"{label:<42} {figures.median(name):>17.3f} {size / 2**20:>10.1f}")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.current_state", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--versions", type=int, default=1_000_000, help="versions in the history")
    parser.add_argument("--batch-rows", type=int, default=1_000, help="versions per micro-batch")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement")
    parser.add_argument(
        "--model-only", action="store_true",
        help="bytes billed alone, without the emulator (no timings, nothing written to disk)",
    )  # fmt: skip
    arguments = parser.parse_args(argv)
    if arguments.versions < VERSIONS_PER_ITEM * PURCHASE_DAYS:
        parser.error(f"--versions must be at least {VERSIONS_PER_ITEM * PURCHASE_DAYS}")
    configure_logging("WARNING")
    if arguments.model_only:
        print(json.dumps(model_only(arguments.versions, arguments.batch_rows)))
    else:
        print(json.dumps(run(arguments.versions, arguments.batch_rows, arguments.repeats)))


if __name__ == "__main__":
    main()
