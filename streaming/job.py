"""The streaming job: Pub/Sub -> parse, validate, deduplicate -> Parquet on GCS + BigQuery.

Run it with ``olist stream`` or ``spark-submit streaming/job.py`` (same code, same settings
from ``OLIST_*`` variables; see docs/operations/streaming.md). One query:

1. ``spark.readStream.format("pubsub")`` (connectors.pubsub): one row per event.
2. :func:`streaming.validation.parse_events`: typed event + every broken rule.
3. Deduplicate on ``event_id`` (or, for rejected payloads, the message id, publish time and
   event index: :mod:`streaming.rejected_key`) within ``dedup_window`` of the staged batch
   that first held it, in RocksDB state kept in the checkpoint.
4. ``foreachBatch`` (:class:`streaming.batch_writer.BatchWriter`): lake + BigQuery, idempotent
   per batch id; BigQuery inserts each ``event_id`` once whenever it comes
   (:mod:`streaming.event_sink`).

SIGTERM/SIGINT: the query is stopped between batches (waiting up to ``stop_grace_seconds``
for a running one), then the process exits 0; the next start resumes from the checkpoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TypedDict

if __package__ in (None, ""):
    # Run as a script (spark-submit streaming/job.py): make the repository importable even
    # when the project is not installed in the interpreter Spark starts.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.log_format import configure_logging
from streaming.exit_codes import ExitCode, log_failure, run_to_exit_code
from streaming.settings import StreamSettings
from streaming.sink_rows import DEDUP_KEY, rows_for_sinks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from streaming.batch_writer import BatchWriter
    from streaming.metrics import StreamStatus

log = logging.getLogger(__name__)

EVENT_DECODER = "streaming.event_decoder:OrderEventDecoder"
"""The source's ``decoder`` option: see :mod:`streaming.event_decoder`."""


def build_spark_session(settings: StreamSettings) -> SparkSession:
    """The job's session. Under spark-submit the master and resources come from there."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("olist-order-events-stream")
    # Python workers (and the data source's planner process) must run this interpreter, the
    # one with the project's packages, not whatever "python3" is first on PATH; under
    # spark-submit too, where the Python SparkContext reads it when getOrCreate() makes it.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if SparkSession.getActiveSession() is None and not _launched_by_spark_submit():
        builder = builder.master(settings.spark_master).config("spark.driver.memory", "2g")
    from streaming.deployment import executor_environment

    for name, value in executor_environment().items():
        builder = builder.config(f"spark.executorEnv.{name}", value)
    # Without spark-submit the JVM is our child: started with SIGTERM ignored (HotSpot then
    # keeps it ignored), a SIGTERM sent to the whole process group (a terminal, `kill -- -PGID`)
    # reaches only this driver, which stops the query between batches; the JVM exits when the
    # driver does. Under spark-submit the JVM is our parent and this changes nothing
    # (docs/operations/streaming.md#stopping-the-job).
    previous_handler = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        spark = _configured(builder, settings).getOrCreate()
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    from connectors.pubsub import PubSubDataSource
    from streaming.log_levels import quiet_spark

    quiet_spark(spark, settings.log_level)
    from streaming.deployment import check_master_agrees

    if _launched_by_spark_submit():
        configured = settings.spark_master if "spark_master" in settings.model_fields_set else None
        check_master_agrees(configured, str(spark.sparkContext.master))
    spark.dataSource.register(PubSubDataSource)
    return spark


def _configured(builder: SparkSession.Builder, settings: StreamSettings) -> SparkSession.Builder:
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.state_partitions))
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        # A commit writes the batch's changes, not a snapshot of the whole state.
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        # No extra RocksDB read per write to keep a row count (progress then reports no
        # numRowsTotal for the dedup state): seconds less per large batch, see
        # docs/operations/streaming.md#measurements.
        .config("spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Batches to the sink's Python tasks are bounded by maxRecordsPerBatch (10,000 rows).
        # The extra byte bound (default 64 MB) makes Spark 4.3 size the Arrow vectors after
        # every row, a large share of the JVM's CPU; INT_MAX turns that check off
        # (docs/operations/streaming.md#measurements).
        .config("spark.sql.execution.arrow.maxBytesPerBatch", str(2**31 - 1))
        .config("spark.ui.showConsoleProgress", "false")
    )


def _launched_by_spark_submit() -> bool:
    # spark-submit starts the Python driver with the gateway already running.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def read_events(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The Pub/Sub stream, one row per event (connectors.pubsub)."""
    reader = (
        spark.readStream.format("pubsub")
        .option("project", settings.gcp_project)
        .option("subscription", settings.pubsub_subscription)
        .option("stagingLocation", settings.resolved_staging_location)
        .option("numPartitions", str(settings.read_partitions))
        # Valid events arrive typed from the source; Spark parses only what it declines.
        .option("decoder", EVENT_DECODER)
        # The sinks keep the attributes of rejected payloads only (never decoded ones): a map
        # per event costs Spark seconds per 1M events to convert
        # (docs/operations/streaming.md#measurements).
        .option("decodedRowAttributes", "false")
    )
    if settings.max_records_per_trigger is not None:
        reader = reader.option("maxRecordsPerTrigger", str(settings.max_records_per_trigger))
    if settings.pubsub_emulator_host:
        reader = reader.option("emulatorHost", settings.pubsub_emulator_host)
    return reader.load()


def deduplicated_events(source: DataFrame, settings: StreamSettings) -> DataFrame:
    """Parsed and validated rows, each event id (or rejected payload) kept once."""
    from connectors.pubsub.records import STAGED_TIME_COLUMN

    # The watermark is on the time the source staged the row's batch (kept in the batch's
    # manifest, so a replay sees the same), never on the publish time: batches are staged in
    # order, a row is then never older than the watermark, and Spark drops no event for
    # being late (a backlog, a seek). The window only bounds the state; the BigQuery sink
    # inserts each event_id once whatever the delay (streaming.event_sink). A column, not
    # current_timestamp(): Spark writes a literal's value into the generated code, and the
    # batch's timestamp made Janino compile the whole parse and validation stage again for
    # every batch (docs/operations/streaming.md#the-first-batch-after-a-start).
    return (
        rows_for_sinks(source)
        .withWatermark(STAGED_TIME_COLUMN, settings.dedup_window)
        .dropDuplicatesWithinWatermark([DEDUP_KEY])
        .drop(STAGED_TIME_COLUMN)
    )


def checkpoint_query_id(checkpoint: str | Path) -> str:
    """The query id Spark keeps in ``<checkpoint>/metadata`` (stable across restarts), read
    through Hadoop's filesystem API like the rest of the checkpoint (a path or gs://)."""
    from pyspark.sql import SparkSession

    from streaming.checkpoint import read_query_id

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    return read_query_id(spark, str(checkpoint))


def build_writer(settings: StreamSettings, status: StreamStatus) -> BatchWriter:
    """The foreachBatch sink. Its tables exist: ``olist setup`` made them, preflight checked."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery, storage

    from schemas import warehouse
    from streaming.batch_writer import BatchWriter
    from streaming.bigquery_loader import BigQueryTable
    from streaming.event_sink import IdempotentEventSink
    from streaming.lake_writer import LakeWriter

    storage_client = storage.Client(project=settings.gcp_project)
    bigquery_options = (
        ClientOptions(api_endpoint=settings.bigquery_api_endpoint)
        if settings.bigquery_api_endpoint
        else None
    )
    bigquery_credentials = None
    if settings.bigquery_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        bigquery_credentials = AnonymousCredentials()
    bigquery_client = bigquery.Client(
        project=settings.gcp_project,
        client_options=bigquery_options,
        credentials=bigquery_credentials,
        location=settings.bigquery_location,
    )
    lake = {
        prefix: LakeWriter(
            storage_client,
            settings.lake_bucket,
            prefix,
            partition,
            max_rows_per_file=settings.lake_max_rows_per_file,
            upload_threads=settings.lake_upload_threads,
        )
        for prefix, partition in (
            (settings.lake_events_prefix, warehouse.PARTITION_FIELD),
            (settings.lake_rejected_prefix, "rejected_date"),
        )
    }

    def table(name: str, rejected: bool = False) -> BigQueryTable:
        return BigQueryTable(
            bigquery_client,
            settings.bigquery_dataset,
            name,
            warehouse.REJECTED_FIELDS if rejected else warehouse.order_events_table_fields(),
            partition_field="rejected_date" if rejected else warehouse.PARTITION_FIELD,
            clustering_fields=() if rejected else warehouse.CLUSTERING_FIELDS,
            location=settings.bigquery_location,
            request_timeout_seconds=settings.bigquery_request_timeout_seconds,
            job_timeout_seconds=settings.bigquery_job_timeout_seconds,
        )

    events_sink = IdempotentEventSink(
        table(settings.bigquery_table), table(settings.bigquery_current_table)
    )
    rejected_table = table(settings.bigquery_rejected_table, rejected=True)
    events_sink.ensure_exists()
    rejected_table.ensure_exists()
    storage_write = None
    if settings.bigquery_write_method == "storage_write":
        from streaming.batch_writer import EVENTS_SCHEMA, REJECTED_SCHEMA
        from streaming.bigquery_storage_write import (
            RejectedRowsStaging,
            StorageWriteStaging,
            StorageWriteTables,
        )

        endpoint = settings.bigquery_storage_api_endpoint
        storage_write = StorageWriteTables(
            events=StorageWriteStaging(events_sink, EVENTS_SCHEMA, endpoint),
            rejected=RejectedRowsStaging(rejected_table, REJECTED_SCHEMA, endpoint),
        )
    return BatchWriter(
        events_lake=lake[settings.lake_events_prefix],
        rejected_lake=lake[settings.lake_rejected_prefix],
        events_sink=events_sink,
        rejected_table=rejected_table,
        query_id=lambda: checkpoint_query_id(settings.resolved_checkpoint_location),
        on_batch=status.batch_written,
        late_after=dt.timedelta(seconds=settings.dedup_window_seconds),
        on_batch_start=status.batch_started,
        storage_write=storage_write,
    )


def check_deployment(spark: SparkSession, settings: StreamSettings) -> None:
    """Refuse a checkpoint or staging location the session's master cannot work with."""
    from streaming.deployment import check_checkpoint_filesystem, check_locations

    check_locations(
        str(spark.sparkContext.master),
        settings.resolved_checkpoint_location,
        settings.resolved_staging_location,
        settings.shared_filesystem,
    )
    check_checkpoint_filesystem(spark, settings.resolved_checkpoint_location)


def start_query(
    spark: SparkSession, settings: StreamSettings, writer: BatchWriter
) -> StreamingQuery:
    """Start the streaming query with the configured trigger."""
    stream = (
        deduplicated_events(read_events(spark, settings), settings)
        .writeStream.queryName("olist_order_events")
        .foreachBatch(writer)
        .option("checkpointLocation", settings.resolved_checkpoint_location)
    )
    if settings.available_now:
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=settings.trigger_interval)
    return stream.start()


class StopRequest:
    """Set by SIGTERM/SIGINT; the run loop stops the query between batches."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested signal=%s", signal.Signals(signum).name)
            self.event.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def wait_and_stop(query: StreamingQuery, stop: StopRequest, grace_seconds: float) -> None:
    """Block until the query ends, or until a stop request, then stop it between batches."""
    while query.isActive and not stop.event.is_set():
        query.awaitTermination(0.5)  # type: ignore[arg-type]  # pyspark says int, takes seconds as float
    if not query.isActive:
        return
    deadline = time.monotonic() + grace_seconds
    while query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.2)
    if query.status["isTriggerActive"]:
        log.warning(
            "a batch is still running after %.0f s; stopping it (it replays on restart)",
            grace_seconds,
        )
    query.stop()
    log.info("query stopped cleanly")


def run(settings: StreamSettings) -> int:
    """Run the job until it ends (availableNow) or is asked to stop. Returns an exit code."""
    from connectors.pubsub import source_stats_path
    from streaming.deployment import prepare_locations
    from streaming.listener import StatusListener
    from streaming.metrics import StreamStatus
    from streaming.preflight import check_resources
    from streaming.status_server import StatusServer

    settings.warn_about_load_job_quota()
    check_resources(settings)  # before Spark starts: a missing resource stops us in seconds
    prepare_locations(settings.resolved_checkpoint_location, settings.resolved_staging_location)
    stop = StopRequest()
    stop.install()
    status = StreamStatus(
        source_stats_path=source_stats_path(settings.resolved_staging_location),
        batch_stuck_seconds=settings.batch_stuck_seconds,
    )
    server = (
        StatusServer(status, settings.metrics_host, settings.metrics_port).start()
        if settings.metrics_port
        else None
    )
    spark = build_spark_session(settings)
    check_deployment(spark, settings)
    spark.streams.addListener(StatusListener(status))
    try:
        writer = build_writer(settings, status)
        if settings.stream_warmup:
            from streaming.warmup import warm_up

            warm_up(spark, settings, (writer.events_lake, writer.rejected_lake), status)
        query = start_query(spark, settings, writer)
        log.info(
            "stream started query_id=%s trigger=%s checkpoint=%s",
            query.id,
            "availableNow" if settings.available_now else settings.trigger_interval,
            settings.resolved_checkpoint_location,
        )
        wait_and_stop(query, stop, settings.stop_grace_seconds)
        error = query.exception()
        if error is not None:
            log_failure(error)  # one line; the logical plan in the message only at DEBUG
            return ExitCode.FAILED
        return ExitCode.OK
    finally:
        if server is not None:
            server.stop()
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``spark-submit streaming/job.py [--available-now] [--trigger-interval I]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--available-now", action="store_true", help="backfill, then stop")
    parser.add_argument("--trigger-interval", help="processingTime interval, e.g. '5 minutes'")
    arguments = parser.parse_args(argv)

    def configure_and_run() -> int:
        settings = settings_with_overrides(arguments.available_now, arguments.trigger_interval)
        configure_logging(settings.log_level)
        return run(settings)

    return run_to_exit_code(configure_and_run)


class _Overrides(TypedDict, total=False):
    """The settings the command line may set; the others come from the environment only."""

    available_now: bool
    trigger_interval: str


def settings_with_overrides(available_now: bool, trigger_interval: str | None) -> StreamSettings:
    """The environment's settings, with what the command line said on top."""
    overrides: _Overrides = {}
    if available_now:
        overrides["available_now"] = True
    if trigger_interval:
        overrides["trigger_interval"] = trigger_interval
    return StreamSettings(**overrides)


if __name__ == "__main__":
    raise SystemExit(main())
