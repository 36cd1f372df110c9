"""The ``foreachBatch`` sink: one micro-batch to Parquet in Cloud Storage, then to BigQuery.

Called on the driver with the batch's DataFrame (already parsed, validated and deduplicated)
and its batch id. The rows are distributed by kind and partition date, so each Spark task
streams the rows of whole partitions, splits them into valid events and rejected payloads and
uploads them as Parquet objects with deterministic names, one per partition date per batch
(``mapInArrow``; a replay overwrites), returning only the names; the driver records the
batch's manifest, then hands the objects to BigQuery: the valid events to the idempotent sink
(:mod:`streaming.event_sink`), the rejected rows to a load job whose id is derived from the
batch id (a replay does not load twice). With ``OLIST_BIGQUERY_WRITE_METHOD=storage_write`` no
load job runs: the same tasks append both kinds of rows to PENDING streams that the driver
commits once per table (:mod:`streaming.bigquery_storage_write`). Rows never gather on the
driver. Any failure raises, which fails the query before its commit: Spark replays the same
batch on restart and the source acknowledges nothing meanwhile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from schemas.derive import arrow_schema
from schemas.order_event import EVENT_FIELDS
from schemas.warehouse import PARTITION_FIELD, REJECTED_FIELDS, order_events_table_fields
from streaming.analytics import derived_columns
from streaming.bigquery_jobs import JobOutcome
from streaming.bigquery_loader import BigQueryTable
from streaming.bigquery_storage_write import (
    PendingStreamWriter,
    StorageWriteTables,
    StorageWriteTarget,
    StreamReport,
)
from streaming.event_sink import IdempotentEventSink, SinkOutcome
from streaming.lake_writer import LakeWriter, WrittenObject
from streaming.partition_stream import PartitionStream
from streaming.payload_chunks import (
    CHUNK_INDEX,
    CHUNK_OF,
    DEFAULT_PAYLOAD_BYTES_PER_ARROW_BATCH,
    PayloadJoiner,
    chunk_bytes_for,
    chunked_payloads,
)
from streaming.validation import EVENT_COLUMN, REASON_COLUMN

log = logging.getLogger(__name__)

EVENTS_SCHEMA = arrow_schema(order_events_table_fields())
BATCH_ID_FIELD = "stream_batch_id"
REJECTED_SCHEMA = arrow_schema(list(REJECTED_FIELDS))
WRITTEN_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs: a list of fields of mixed types joins to object
        pa.field("kind", pa.string()),
        pa.field("name", pa.string()),
        pa.field("partition", pa.string()),
        pa.field("rows", pa.int64()),
        pa.field("bytes", pa.int64()),
        pa.field("first_reason", pa.string()),
    ]
)
"""What each task reports back to the driver: one row per object it uploaded (kind ``events``
or ``rejected``), and one per Storage Write stream it finalized (kind ``events_stream`` or
``rejected_stream``)."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one micro-batch wrote."""

    batch_id: int
    valid_rows: int
    rejected_rows: int
    objects: int
    replayed: bool
    seconds: float
    write_seconds: float = 0.0
    bigquery_seconds: float = 0.0
    duplicate_rows: int = 0
    """Rows the BigQuery sink did not insert because their event_id was already loaded."""
    late_rows: int = 0
    """Rows published longer than the deduplication window ago (loaded all the same)."""
    bytes_written: int = 0
    """Bytes of the Parquet objects the batch wrote to the lake."""


def batch_columns(frame: DataFrame) -> DataFrame:
    """Every column either output needs, computed in Spark (one projection), but the batch id.

    ``stream_batch_id`` is added by the tasks (:func:`_split`): Spark writes a literal's value
    into the generated Java code, so a ``lit(batch_id)`` here made Janino compile this stage
    again for every batch (docs/operations/streaming.md#the-first-batch-after-a-start).
    """
    flat_events = [F.col(EVENT_COLUMN)[name].alias(name) for name in EVENT_FIELDS]
    lineage = [
        F.col("message_id").alias("pubsub_message_id"),
        F.col("publish_time").alias("pubsub_publish_time"),
    ]
    rejected = [
        # The publish date, not today's: a batch replayed on a later day lands in the same
        # partition under the same object names.
        F.to_date(F.col("publish_time")).alias("rejected_date"),
        F.col("event_index").cast("long").alias("event_index"),
        F.to_json(F.col("attributes")).alias("attributes_json"),
        F.col("payload").alias("raw_payload"),  # the bytes as received: lossless
        F.col(REASON_COLUMN).alias("reason"),
    ]
    return frame.select(*flat_events, *lineage, *rejected).withColumns(derived_columns())


def _split(table: pa.Table, batch_id: int) -> tuple[pa.Table, pa.Table]:
    """The valid and the rejected rows of :func:`batch_columns`' output, each in its schema,
    with ``stream_batch_id``."""
    table = table.append_column(
        BATCH_ID_FIELD, pa.repeat(pa.scalar(batch_id, pa.int64()), table.num_rows)
    )
    events = table.select([f.name for f in EVENTS_SCHEMA])
    rejected = table.select([f.name for f in REJECTED_SCHEMA])
    reasons = table.column("reason")
    if reasons.null_count == len(reasons):  # the common case: no copy of the rows
        return _conform(events, EVENTS_SCHEMA), _conform(rejected.slice(0, 0), REJECTED_SCHEMA)
    valid_mask = pc.is_null(reasons)
    events, rejected = events.filter(valid_mask), rejected.filter(pc.invert(valid_mask))
    return _conform(events, EVENTS_SCHEMA), _conform(rejected, REJECTED_SCHEMA)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast to the declared schema (types, timezone, list field name) and attach it."""
    columns = [table.column(field.name).cast(field.type) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


LAKE_KIND = "_lake_rejected"
LAKE_DATE = "_lake_date"


def distributed_by_partition(
    columns: DataFrame, chunk_bytes: int = DEFAULT_PAYLOAD_BYTES_PER_ARROW_BATCH // 10_000
) -> DataFrame:
    """The batch's rows grouped by (kind, partition date) into tasks, sorted within each task.

    Every partition date of a kind then lands in one task only, and arrives there as one
    contiguous run: the task writes one object per date per batch (until a size limit)
    instead of one per date per task, and streams its input (Spark sorts with spilling, the
    task holds one open file). A backfill touching hundreds of dates writes hundreds of
    objects, not hundreds per task. Raw payloads cross in chunks of ``chunk_bytes`` at most,
    each payload's in order (:mod:`streaming.payload_chunks`).
    """
    rejected = F.col("reason").isNotNull()
    date = F.when(rejected, F.col("rejected_date")).otherwise(F.col(PARTITION_FIELD))
    return (
        chunked_payloads(columns, chunk_bytes, rejected)
        .withColumn(LAKE_KIND, rejected)
        .withColumn(LAKE_DATE, date)
        .repartition(LAKE_KIND, LAKE_DATE)
        .sortWithinPartitions(LAKE_KIND, LAKE_DATE, CHUNK_OF, CHUNK_INDEX)
    )


@dataclass(frozen=True)
class LakeTask:
    """The ``mapInArrow`` function: one Spark task's rows to Parquet objects in the lake.

    Its input is sorted by kind and partition date (:func:`distributed_by_partition`) and is
    streamed: one Arrow batch at a time, one open file per kind.
    """

    events_lake: LakeWriter
    rejected_lake: LakeWriter
    query_id: str
    batch_id: int
    events_stream: StorageWriteTarget | None = None
    """With the Storage Write method: the staging table the valid rows are appended to."""
    rejected_stream: StorageWriteTarget | None = None
    """With the Storage Write method: the staging table the rejected rows are appended to."""

    def _object_names(self, lake: LakeWriter, task: int) -> Callable[[str, int], str]:
        def name(partition: str, part: int) -> str:
            return lake.object_name(self.query_id, self.batch_id, task, partition, part)

        return name

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        task = context.partitionId() if context is not None else 0
        streams = {
            kind: PartitionStream(
                lake,
                schema,
                self._object_names(lake, task),
            )
            for kind, lake, schema in (
                ("events", self.events_lake, EVENTS_SCHEMA),
                ("rejected", self.rejected_lake, REJECTED_SCHEMA),
            )
        }
        first_reason = None
        payloads = PayloadJoiner()
        appenders: dict[str, PendingStreamWriter] = {
            kind: target.open_writer()
            for kind, target in (("events", self.events_stream), ("rejected", self.rejected_stream))
            if target is not None
        }
        try:
            for batch in batches:
                events, rejected = _split(
                    payloads.join(pa.Table.from_batches([batch])), self.batch_id
                )
                streams["events"].write(events)
                streams["rejected"].write(rejected)
                for kind, kind_rows in (("events", events), ("rejected", rejected)):
                    if kind in appenders:
                        appenders[kind].append(kind_rows)
                if first_reason is None and rejected.num_rows:
                    first_reason = rejected.column("reason")[0].as_py()
            payloads.close()
            appended = {kind: appender.finish() for kind, appender in appenders.items()}
        except BaseException:
            for appender in appenders.values():
                appender.abandon()  # never finalized, never committed
            raise
        rows = [
            {**vars(item), "kind": kind, "first_reason": first_reason}
            for kind, stream in streams.items()
            for item in stream.close()
        ]
        rows += [
            {"kind": f"{kind}_stream", "name": report.name, "partition": "", "rows": report.rows,
             "bytes": report.bytes, "first_reason": None}
            for kind, report in appended.items()
            if report is not None
        ]  # fmt: skip
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=WRITTEN_SCHEMA)


def run_lake_tasks(
    frame: DataFrame,
    task: LakeTask,
    payload_bytes_per_arrow_batch: int = DEFAULT_PAYLOAD_BYTES_PER_ARROW_BATCH,
) -> list[Any]:
    """The Spark part of a batch: ``frame``'s rows through ``task`` in every Spark task; the
    reports the tasks sent back (rows of :data:`WRITTEN_SCHEMA`). Runs on the driver; the
    start-up warm-up (:mod:`streaming.warmup`) runs it too, with lakes that keep nothing."""
    rows_per_arrow_batch = int(
        frame.sparkSession.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        or "10000"
    )
    chunk_bytes = chunk_bytes_for(
        payload_bytes_per_arrow_batch,
        rows_per_arrow_batch if rows_per_arrow_batch > 0 else 10_000,
    )
    return (
        distributed_by_partition(batch_columns(frame), chunk_bytes)
        .mapInArrow(task, from_arrow_schema(WRITTEN_SCHEMA))
        .collect()
    )


class BatchWriter:
    """Callable given to ``foreachBatch``."""

    def __init__(
        self,
        events_lake: LakeWriter,
        rejected_lake: LakeWriter,
        events_sink: IdempotentEventSink,
        rejected_table: BigQueryTable,
        query_id: Callable[[], str],
        on_batch: Callable[[BatchOutcome], None] | None = None,
        late_after: dt.timedelta = dt.timedelta(hours=24),
        on_batch_start: Callable[[int], None] | None = None,
        payload_bytes_per_arrow_batch: int = DEFAULT_PAYLOAD_BYTES_PER_ARROW_BATCH,
        storage_write: StorageWriteTables | None = None,
    ) -> None:
        self.events_lake = events_lake
        self.rejected_lake = rejected_lake
        self.events_sink = events_sink
        self.rejected_table = rejected_table
        self.query_id = query_id
        self.on_batch = on_batch
        self.late_after = late_after
        self.on_batch_start = on_batch_start
        self.payload_bytes_per_arrow_batch = payload_bytes_per_arrow_batch
        self.storage_write = storage_write
        """Set: both kinds of rows go through the Storage Write API; None: through load jobs."""

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        if self.on_batch_start is not None:
            self.on_batch_start(batch_id)
        late_cutoff = dt.datetime.now(dt.UTC) - self.late_after
        # The checkpoint's query id scopes every object, manifest and job: a new checkpoint
        # restarts batch ids at 0 and must not touch an earlier run's data.
        query_id = self.query_id()
        job_prefix = f"olist_{query_id}"
        task = LakeTask(self.events_lake, self.rejected_lake, query_id, batch_id)
        if self.storage_write is not None:
            events_start = self.storage_write.events.before_tasks(job_prefix, batch_id)
            rejected_start = self.storage_write.rejected.before_tasks(job_prefix, batch_id)
            task = dataclasses.replace(
                task, events_stream=events_start.target, rejected_stream=rejected_start.target
            )
        reports = run_lake_tasks(frame, task, self.payload_bytes_per_arrow_batch)
        written = _written(reports, "events")
        rejected_written = _written(reports, "rejected")
        self.events_lake.finish_batch(written, query_id, batch_id)
        self.rejected_lake.finish_batch(rejected_written, query_id, batch_id)
        uploaded = time.monotonic()
        loaded: SinkOutcome
        rejected_loaded: JobOutcome
        if self.storage_write is None:
            loaded = self.events_sink.load_batch(
                self.events_lake.load_uris(written, query_id, batch_id),
                job_prefix,
                batch_id,
                late_cutoff,
            )
            rejected_loaded = self.rejected_table.load_batch(
                self.rejected_lake.load_uris(rejected_written, query_id, batch_id),
                job_prefix,
                batch_id,
            )
        else:
            loaded = self.storage_write.events.after_tasks(
                events_start, _streams(reports, "events_stream"), late_cutoff
            )
            rejected_loaded = self.storage_write.rejected.after_tasks(
                rejected_start, _streams(reports, "rejected_stream"), late_cutoff
            )
        rejected_rows = sum(item.rows for item in rejected_written)
        outcome = BatchOutcome(
            batch_id=batch_id,
            valid_rows=sum(item.rows for item in written),
            rejected_rows=rejected_rows,
            objects=len(written) + len(rejected_written),
            replayed=loaded.already_loaded or rejected_loaded.already_done,
            seconds=time.monotonic() - started,
            write_seconds=uploaded - started,
            bigquery_seconds=time.monotonic() - uploaded,
            bytes_written=sum(item.bytes for item in (*written, *rejected_written)),
            duplicate_rows=loaded.duplicate_rows,
            late_rows=loaded.late_rows,
        )
        log.info(
            "batch done batch_id=%s valid=%d rejected=%d objects=%d replayed=%s seconds=%.2f "
            "spark_and_lake_seconds=%.2f bigquery_seconds=%.2f duplicates_at_sink=%d late=%d",
            batch_id, outcome.valid_rows, outcome.rejected_rows, outcome.objects,
            outcome.replayed, outcome.seconds, outcome.write_seconds, outcome.bigquery_seconds,
            outcome.duplicate_rows, outcome.late_rows,
        )  # fmt: skip
        if rejected_rows:
            first_reason = next(row.first_reason for row in reports if row.kind == "rejected")
            log.warning(
                "batch rejected rows batch_id=%s count=%d first_reason=%s",
                batch_id, rejected_rows, json.dumps(first_reason),
            )  # fmt: skip
        if self.on_batch is not None:
            self.on_batch(outcome)


def _streams(reports: list[Any], kind: str) -> list[StreamReport]:
    return [
        StreamReport(name=row.name, rows=row.rows, bytes=row.bytes)
        for row in reports
        if row.kind == kind
    ]


def _written(reports: list[Any], kind: str) -> list[WrittenObject]:
    return sorted(
        (
            WrittenObject(name=row.name, partition=row.partition, rows=row.rows, bytes=row.bytes)
            for row in reports
            if row.kind == kind
        ),
        key=lambda item: item.name,
    )
