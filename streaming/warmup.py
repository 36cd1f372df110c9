"""Warm a fresh JVM before the query starts: the batch's plans run once on synthetic rows.

A fresh JVM's first micro-batch pays one-off costs a running job no longer pays: Catalyst
and Janino run in interpreted, not yet JIT-compiled, code while they plan and compile the
~150 validation rules (:mod:`streaming.validation`) and the lake stage; Spark starts its
Python worker daemon and workers; pyarrow's Parquet writer loads. Run by :func:`streaming.job.run`
before the query starts, so before ``/readyz`` answers 200 (readiness needs a running query),
:func:`warm_up` puts a few synthetic rows (valid events as the decoder delivers them, and one
of each kind of payload the decoder declines) through the job's own code: the source's
schema, :func:`streaming.sink_rows.rows_for_sinks`, :func:`streaming.batch_writer.run_lake_tasks`
and :class:`streaming.batch_writer.LakeTask`, whose Parquet files are written in memory and
dropped (:class:`DiscardingLake`).

It never writes to the lake, BigQuery or the checkpoint: it is given no client at all. It is
bounded (``OLIST_STREAM_WARMUP_TIMEOUT_SECONDS``; past it, its Spark jobs are cancelled and
the query starts all the same), logged with its duration, and off with
``OLIST_STREAM_WARMUP=false``. An error in it is an error the first batch would hit too: it
is raised, and the job fails before reading anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from streaming.lake_writer import LakeWriter, WrittenObject

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming.metrics import StreamStatus
    from streaming.settings import StreamSettings

log = logging.getLogger(__name__)

JOB_GROUP = "olist-stream-warmup"
ADAPTIVE = "spark.sql.adaptive.enabled"
WARMUP_QUERY_ID = "warmup"
VALID_EVENTS = 8
"""Valid events in the synthetic batch, over as many purchase dates."""
DECLINED_PAYLOADS: tuple[bytes, ...] = (
    b"",  # empty
    b"\xff\xfe{}",  # not UTF-8
    b"not json",
    b"[1, 2]",  # JSON, not an object
    b'{"unexpected": 1}',  # unknown field, every field missing
)
"""Payloads the decoder declines, one per row rule; field rules come from edited events."""


class WarmUpError(RuntimeError):
    """The warm-up's batch failed: the first real batch would fail the same way."""


class DiscardingLake(LakeWriter):
    """A :class:`LakeWriter` that keeps nothing: its tasks write Parquet in memory, then drop it.

    It has no storage client (nothing to upload with), the same prefix and partition column as
    the lake it stands for, and names its objects like it (never created).
    """

    def __init__(self, like: LakeWriter) -> None:
        self.bucket_name = like.bucket_name
        self.prefix = like.prefix
        self.partition_column = like.partition_column
        self.max_rows_per_file = like.max_rows_per_file
        self.upload_threads = 1

    def __getstate__(self) -> dict[str, object]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    def upload(self, written: WrittenObject, data: bytes) -> WrittenObject:
        """Drop the finished Parquet file."""
        return written

    def finish_batch(self, written: list[WrittenObject], query_id: str, batch_id: int) -> None:
        raise AssertionError("the warm-up never finishes a lake batch")


def _valid_payloads(count: int) -> list[bytes]:
    from schemas.examples import EXAMPLE_EVENT
    from schemas.order_event import event_id_for

    start = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
    payloads = []
    for index in range(count):
        order_id = f"{index:032x}"
        event = {
            **EXAMPLE_EVENT,
            "event_id": event_id_for(order_id, 1),
            "order_id": order_id,
            "order_purchase_timestamp": (start + dt.timedelta(days=index)).isoformat(),
        }
        payloads.append(orjson.dumps(event))
    return payloads


def _field_broken_payloads(valid: bytes) -> list[bytes]:
    """An otherwise valid event with a wrong type, a null, a missing and an unknown field."""
    event = orjson.loads(valid)
    wrong_type = {**event, "price": "not a number"}
    null_field = {**event, "order_id": None}
    missing = {key: value for key, value in event.items() if key != "customer_state"}
    unknown = {**event, "not_a_field": True}
    return [orjson.dumps(item) for item in (wrong_type, null_field, missing, unknown)]


def synthetic_source(spark: SparkSession) -> DataFrame:
    """Rows shaped as the job's source delivers them (its schema, the ``decoded`` column of the
    job's decoder): valid events decoded, declined payloads raw, one envelope error."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from connectors.pubsub.decoding import DECODED_COLUMN, output_schema
    from connectors.pubsub.records import OUTPUT_SCHEMA, STAGED_TIME_COLUMN
    from streaming.event_decoder import OrderEventDecoder

    decoder = OrderEventDecoder()
    schema = output_schema(OUTPUT_SCHEMA, decoder, decoded_row_attributes=False)
    valid = _valid_payloads(VALID_EVENTS)
    payloads = [*valid, *DECLINED_PAYLOADS, *_field_broken_payloads(valid[0])]
    decoded = decoder.decode(payloads)
    rows = len(payloads)
    unpack_errors: list[str | None] = [None] * rows
    unpack_errors[-1] = "warm-up: a broken envelope"
    declined = [bool(flag) for flag in decoded.is_null().to_pylist()]
    published = dt.datetime.now(dt.UTC)
    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    columns = {
        "message_id": pa.array([f"warmup-{index}" for index in range(rows)]),
        "publish_time": pa.array([published] * rows, pa.timestamp("us", tz="UTC")),
        "attributes": pa.array(
            [[("warmup", "true")] if is_declined else None for is_declined in declined],
            arrow_schema.field("attributes").type,
        ),
        "ordering_key": pa.array([""] * rows),
        "event_index": pa.array(range(rows), pa.int32()),
        "payload": pa.array(
            [
                payload if is_declined else None
                for payload, is_declined in zip(payloads, declined, strict=True)
            ],
            pa.binary(),
        ),
        "delivery_attempt": pa.nulls(rows, pa.int32()),
        "unpack_error": pa.array(unpack_errors, pa.string()),
        STAGED_TIME_COLUMN: pa.array([published] * rows, pa.timestamp("us", tz="UTC")),
        DECODED_COLUMN: decoded.cast(arrow_schema.field(DECODED_COLUMN).type),
    }
    table = pa.Table.from_arrays(
        [columns[field.name] for field in arrow_schema], schema=arrow_schema
    )
    return spark.createDataFrame(table, schema=schema)


@dataclass(frozen=True)
class WarmUpReport:
    """What the warm-up did."""

    seconds: float
    rows: int
    valid_rows: int
    rejected_rows: int
    completed: bool
    """False when it ran out of time and was cancelled."""


def _run_batch(spark: SparkSession, lakes: tuple[LakeWriter, LakeWriter]) -> list[Any]:
    from connectors.pubsub.records import STAGED_TIME_COLUMN
    from streaming.batch_writer import LakeTask, run_lake_tasks
    from streaming.sink_rows import DEDUP_KEY, rows_for_sinks

    spark.sparkContext.setJobGroup(JOB_GROUP, "warm-up before the stream starts", True)
    # The stream's deduplication is stateful, streaming only; a batch drops duplicates by the
    # same key (and the event time after it, as the stream does). Everything else is the
    # job's own code.
    frame = (
        rows_for_sinks(synthetic_source(spark)).dropDuplicates([DEDUP_KEY]).drop(STAGED_TIME_COLUMN)
    )
    events_lake, rejected_lake = lakes
    task = LakeTask(DiscardingLake(events_lake), DiscardingLake(rejected_lake), WARMUP_QUERY_ID, 0)
    # A micro-batch of a stateful query runs without adaptive execution (Spark turns it off):
    # the warm-up plans the same way, then gives the session its setting back.
    adaptive = spark.conf.get(ADAPTIVE, None)
    spark.conf.set(ADAPTIVE, "false")
    try:
        return run_lake_tasks(frame, task)
    finally:
        if adaptive is None:
            spark.conf.unset(ADAPTIVE)
        else:
            spark.conf.set(ADAPTIVE, adaptive)


def warm_up(
    spark: SparkSession,
    settings: StreamSettings,
    lakes: tuple[LakeWriter, LakeWriter],
    status: StreamStatus | None = None,
) -> WarmUpReport:
    """Run the batch's plans once on :func:`synthetic_source`; ``lakes`` (events, rejected)
    only lend their layout. Returns once done, or cancelled after the configured timeout."""
    started = time.monotonic()
    if status is not None:
        status.warm_up_started()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["reports"] = _run_batch(spark, lakes)
        except BaseException as error:  # handed to the waiting thread, which raises it
            outcome["error"] = error

    # Spark's job group is a property of the thread that starts the jobs; this one only.
    worker = threading.Thread(target=target, name="stream-warmup", daemon=True)
    log.info("stream warm-up started timeout_seconds=%.0f", settings.stream_warmup_timeout_seconds)
    try:
        worker.start()
        worker.join(settings.stream_warmup_timeout_seconds)
        if worker.is_alive():
            spark.sparkContext.cancelJobGroup(JOB_GROUP)
            worker.join(30)
            report = WarmUpReport(time.monotonic() - started, 0, 0, 0, completed=False)
            log.warning(
                "stream warm-up timed out, cancelled; the first batch pays the start-up "
                "seconds=%.2f timeout_seconds=%.0f",
                report.seconds, settings.stream_warmup_timeout_seconds,
            )  # fmt: skip
            return report
        if "error" in outcome:
            error = outcome["error"]
            first_line = (str(error).splitlines() or [""])[0]
            raise WarmUpError(
                f"the warm-up batch failed ({type(error).__name__}: {first_line}); the first "
                "real batch runs the same code. OLIST_STREAM_WARMUP=false starts without it."
            ) from error
        reports = outcome["reports"]
        valid = sum(row.rows for row in reports if row.kind == "events")
        rejected = sum(row.rows for row in reports if row.kind == "rejected")
        report = WarmUpReport(
            time.monotonic() - started, valid + rejected, valid, rejected, completed=True
        )
        log.info(
            "stream warm-up done seconds=%.2f valid=%d rejected=%d",
            report.seconds, report.valid_rows, report.rejected_rows,
        )  # fmt: skip
        return report
    finally:
        if status is not None:
            status.warm_up_finished()
