"""The ``foreachBatch`` sink: one micro-batch to Parquet in Cloud Storage, then to BigQuery.

Called on the driver with the batch's DataFrame (already parsed, validated and deduplicated)
and its batch id. The batch is collected once as Arrow, split into valid events and rejected
payloads, written as Parquet objects with deterministic names (a replay overwrites), then
loaded into BigQuery with a load job whose id is derived from the batch id (a replay does not
load twice). Any failure raises, which fails the query before its commit: Spark replays the
same batch on restart and the source acknowledges nothing meanwhile.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas.derive import arrow_schema
from schemas.order_event import EVENT_FIELDS
from schemas.warehouse import REJECTED_FIELDS, order_events_table_fields
from streaming.analytics import derived_columns
from streaming.bigquery_loader import BigQueryTable
from streaming.lake_writer import LakeWriter
from streaming.validation import EVENT_COLUMN, REASON_COLUMN

log = logging.getLogger(__name__)

EVENTS_SCHEMA = arrow_schema(order_events_table_fields())
REJECTED_SCHEMA = arrow_schema(list(REJECTED_FIELDS))


@dataclass(frozen=True)
class BatchOutcome:
    """What one micro-batch wrote."""

    batch_id: int
    valid_rows: int
    rejected_rows: int
    objects: int
    replayed: bool
    seconds: float
    collect_seconds: float = 0.0
    lake_seconds: float = 0.0
    bigquery_seconds: float = 0.0


def batch_columns(frame: DataFrame, batch_id: int) -> DataFrame:
    """Every column either output needs, computed in Spark (one projection, one collect)."""
    flat_events = [F.col(EVENT_COLUMN)[name].alias(name) for name in EVENT_FIELDS]
    lineage = [
        F.col("message_id").alias("pubsub_message_id"),
        F.col("publish_time").alias("pubsub_publish_time"),
        F.lit(batch_id).cast("long").alias("stream_batch_id"),
    ]
    rejected = [
        # The publish date, not today's: a batch replayed on a later day lands in the same
        # partition under the same object names.
        F.to_date(F.col("publish_time")).alias("rejected_date"),
        F.col("event_index").cast("long").alias("event_index"),
        F.to_json(F.col("attributes")).alias("attributes_json"),
        F.col("payload_text").alias("raw_payload"),
        F.col(REASON_COLUMN).alias("reason"),
    ]
    return frame.select(*flat_events, *lineage, *rejected).withColumns(derived_columns())


def _split(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    valid_mask = pc.is_null(table.column("reason"))
    events = table.filter(valid_mask).select([f.name for f in EVENTS_SCHEMA])
    rejected = table.filter(pc.invert(valid_mask)).select([f.name for f in REJECTED_SCHEMA])
    return _conform(events, EVENTS_SCHEMA), _conform(rejected, REJECTED_SCHEMA)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast to the declared schema (types, timezone, list field name) and attach it."""
    columns = [table.column(field.name).cast(field.type) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


class BatchWriter:
    """Callable given to ``foreachBatch``."""

    def __init__(
        self,
        events_lake: LakeWriter,
        rejected_lake: LakeWriter,
        events_table: BigQueryTable,
        rejected_table: BigQueryTable,
        job_prefix: Callable[[], str],
        on_batch: Callable[[BatchOutcome], None] | None = None,
    ) -> None:
        self.events_lake = events_lake
        self.rejected_lake = rejected_lake
        self.events_table = events_table
        self.rejected_table = rejected_table
        self.job_prefix = job_prefix
        self.on_batch = on_batch

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        table = batch_columns(frame, batch_id).toArrow()
        collected = time.monotonic()
        events, rejected = _split(table)
        written = self.events_lake.write_batch(events, batch_id)
        rejected_written = self.rejected_lake.write_batch(rejected, batch_id)
        uploaded = time.monotonic()
        job_prefix = self.job_prefix()
        loaded = self.events_table.load_batch(
            [self.events_lake.uri(item) for item in written], job_prefix, batch_id
        )
        rejected_loaded = self.rejected_table.load_batch(
            [self.rejected_lake.uri(item) for item in rejected_written], job_prefix, batch_id
        )
        outcome = BatchOutcome(
            batch_id=batch_id,
            valid_rows=events.num_rows,
            rejected_rows=rejected.num_rows,
            objects=len(written) + len(rejected_written),
            replayed=loaded.already_loaded or rejected_loaded.already_loaded,
            seconds=time.monotonic() - started,
            collect_seconds=collected - started,
            lake_seconds=uploaded - collected,
            bigquery_seconds=time.monotonic() - uploaded,
        )
        log.info(
            "batch done batch_id=%s valid=%d rejected=%d objects=%d replayed=%s seconds=%.2f "
            "spark_collect_seconds=%.2f lake_seconds=%.2f bigquery_seconds=%.2f",
            batch_id, outcome.valid_rows, outcome.rejected_rows, outcome.objects,
            outcome.replayed, outcome.seconds, outcome.collect_seconds, outcome.lake_seconds,
            outcome.bigquery_seconds,
        )  # fmt: skip
        if rejected.num_rows:
            log.warning(
                "batch rejected rows batch_id=%s count=%d first_reason=%s",
                batch_id, rejected.num_rows, json.dumps(rejected.column("reason")[0].as_py()),
            )  # fmt: skip
        if self.on_batch is not None:
            self.on_batch(outcome)
