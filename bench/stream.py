"""One micro-batch of N events through the streaming job, against a plain Spark batch job.

``python -m bench.stream --events 1000000`` starts the Pub/Sub emulator, fake-gcs-server and the
BigQuery emulator, publishes N events (packed 1,000 per message and zstd-compressed, as the
producer does by default), then:

1. runs the streaming job (``streaming.job``: Pub/Sub source, validation, deduplication,
   Parquet to Cloud Storage, BigQuery load) with ``availableNow`` so the N events form one
   micro-batch, and reads the batch's wall time from Spark's progress (``triggerExecution``).
   The job is long-running: by default the measured batch follows a warm-up batch of 20,000
   other events in the same session, as every batch but the first does in production
   (``--warmup-events 0`` measures the first batch of a fresh JVM instead: JIT compilation,
   code generation and Python worker start-up add several seconds). Before its query starts,
   the job warms up as ``olist stream`` does (:mod:`streaming.warmup`; off with
   ``OLIST_STREAM_WARMUP=false``), reported as ``"startup_warmup_seconds"`` (null when off);
2. restarts the query on a processing-time trigger with nothing to read and reports the
   duration of an empty trigger;
3. times the floor, in the same Spark session: a plain batch job reading the same events from a
   local JSON Lines file with the event schema and writing Parquet locally.

The BigQuery emulator keeps its tables in memory (its ``--ephemeral`` mode), as a managed
service's storage is not the job's: on disk, DuckDB's file writes make each load slower
(docs/operations/streaming.md#measurements).

Peak memory is the largest summed PSS (resident memory, shared pages split between sharers)
of the job's processes (this driver, the JVM, the Python workers; not the emulators, which run
in sessions of their own), sampled every 250 ms (reading ``smaps_rollup`` of a busy JVM is not
free: sampling more often took a noticeable share of a core from the job; see
docs/operations/streaming.md#measurements).
``--staging gs`` stages on fake-gcs-server (``gs://``) and measures, in the same run and
session, the same batch with local staging (a query of its own with its own warm-up):
``"local_staging_batch_seconds"`` beside ``"batch_seconds"``. ``--master standalone`` runs
the job on a Spark standalone cluster started here (a Master and 2 Workers x 1 core, executors
in JVMs of their own; staging should then be ``gs``); the peak memory then counts the driver
side only (the executors are the Workers' children).

Prints a table, then, as the last line, one JSON object: ``{"events": N, "master": ...,
"staging": ..., "batch_seconds": ..., ["local_staging_batch_seconds": ...,
"ratio_vs_local_staging": ...,] "events_per_s": ..., "plain_spark_seconds": ...,
"ratio_vs_plain_spark": ..., "empty_trigger_seconds": ..., "peak_rss_mb": ...,
"driver_side_seconds": ..., "driver_ceiling_events_per_s": ...}``: the driver side is the part
of the batch that runs on the driver whatever the number of executors (``latestOffset``: pull
and stage; query planning; the BigQuery load), and its ceiling the events per second the
driver alone could sustain.

``--write-method`` chooses how the valid events reach BigQuery (``OLIST_BIGQUERY_WRITE_METHOD``):
``load`` (a load job of the batch's Parquet objects) or ``storage_write`` (the tasks append
through the Storage Write API, :mod:`streaming.bigquery_storage_write`); ``both`` measures the
load method first, then, in the same run and session, the same batch with ``storage_write``
(a query of its own with its own warm-up): ``"storage_write_batch_seconds"``,
``"storage_write_bigquery_seconds"`` and ``"ratio_storage_write_vs_load"`` beside
``"batch_seconds"`` and ``"bigquery_seconds"``. The BigQuery part of a batch is the load or
the commit, plus the counts and the merge; with ``storage_write`` the appends themselves run in
the tasks, inside the Spark + lake part.

With ``--days N`` the events spread over N days of purchase dates (``--days 730``: two years,
a backfill's shape), and the JSON line adds ``"purchase_days"``, ``"objects_written"`` and
``"bytes_written"`` (objects and bytes of the measured batch in the lake).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

from bench.process_usage import command_line, peak_proportional_set
from bench.report import memory_rows, print_table
from bench.termination import exit_on_termination
from harness.pipeline import LocalPipeline
from producer.settings import ProducerSettings
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT
from schemas.log_format import configure_logging
from schemas.order_event import OrderEvent, event_id_for

log = logging.getLogger("bench.stream")

EVENTS_PER_MESSAGE = 1000
PRODUCER_COMPRESSION = ProducerSettings.model_fields["message_compression"].default
"""Messages are packed and compressed as the producer does by default."""
TEMPLATE: dict[str, Any] = {**EXAMPLE_EVENT, "payment_types": ["credit_card"]}
STATES = ("SP", "SP", "SP", "RJ", "MG", "RS", "PR", "SC", "BA", "DF")


def events(count: int, days: int, first: int = 0) -> Iterator[bytes]:
    """``count`` distinct, valid events as JSON, purchase dates spread over ``days`` days.

    Events numbered from ``first``: sets with disjoint numbers share no event id.
    """
    start = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
    for index in range(first, first + count):
        order_id = f"{index:032x}"
        purchased = start + dt.timedelta(seconds=(index * 86_400 * days) // count)
        event = {
            **TEMPLATE,
            "event_id": event_id_for(order_id, 1),
            "source_sequence": index + 1,
            "order_id": order_id,
            "order_item_id": 1,
            "order_purchase_timestamp": purchased.isoformat(),
            "customer_id": f"{index + 7:032x}",
            "customer_state": STATES[index % len(STATES)],
            "price": round(10 + (index % 9000) / 7, 2),
        }
        yield orjson.dumps(event)


def _process_kind(pid: int) -> str:
    """What a process of the job is, from its command line."""
    if pid == os.getpid():
        return "driver (Python)"
    command = command_line(pid)
    if command is None:
        return "other"
    if "java" in command.split(" ", 1)[0]:
        return "JVM"
    if "pyspark.daemon" in command or "pyspark.worker" in command:
        return "Python workers"
    if "pyspark" in command:
        return "Python data source planner"
    return "other"


def publish(
    host: str, topic: str, count: int, days: int, json_path: Path | None, first: int = 0
) -> float:
    """Publish the events (and write them as JSON Lines for the baseline, unless
    ``json_path`` is ``None``); returns seconds."""
    from google.cloud import pubsub_v1

    os.environ["PUBSUB_EMULATOR_HOST"] = host
    publisher = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=100, max_bytes=9_000_000)
    )
    started = time.monotonic()
    futures = []
    batch: list[bytes] = []
    batch_first = first + 1  # source sequences start at 1
    with open(json_path or os.devnull, "wb") as lines:
        for sequence, event in enumerate(events(count, days, first), start=first + 1):
            batch.append(event)
            lines.write(event + b"\n")
            if len(batch) == EVENTS_PER_MESSAGE or sequence == first + count:
                message = encode_events(batch, batch_first, sequence, PRODUCER_COMPRESSION)
                futures.append(publisher.publish(topic, message.data, **message.attributes))
                batch, batch_first = [], sequence + 1
    for future in futures:
        future.result(timeout=300)
    return time.monotonic() - started


def publish_in_child(
    host: str, topic: str, count: int, days: int, json_path: Path | None, first: int = 0
) -> float:
    """:func:`publish` in a child process, so its memory is not the job's; returns seconds."""
    import multiprocessing

    started = time.monotonic()
    child = multiprocessing.get_context("spawn").Process(
        target=publish, args=(host, topic, count, days, json_path, first)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"publishing the events failed (exit code {child.exitcode})")
    return time.monotonic() - started


START_ATTEMPTS = 20
START_PAUSE_SECONDS = 10.0
"""Between two starts of a query whose planner missed the connect-back: a load spike of the
shared machine (load average 16 failed five starts in a row within two minutes) may pass."""


def run_available_now(
    spark: Any, settings: Any, writer: Any, attempts: int = START_ATTEMPTS
) -> list[Any]:
    """Run the job until it has read everything published; its progress reports.

    On a loaded machine the source's planner process (Python, started by the JVM when a query
    starts) may miss PySpark's fixed connect-back timeout ("Python worker failed to connect
    back"): nothing was read then, so the query is started again after a pause.
    """
    from streaming import job

    for attempt in range(1, attempts + 1):
        query = job.start_query(spark, settings, writer)
        try:
            query.awaitTermination()
        except Exception as error:
            if "failed to connect back" not in str(error) or attempt == attempts:
                raise
            log.warning("query start failed, starting it again attempt=%d error=%s", attempt, error)
            time.sleep(START_PAUSE_SECONDS)
            continue
        if query.exception() is not None:
            raise RuntimeError(f"streaming query failed: {query.exception()}")
        return [p for p in query.recentProgress if p.numInputRows > 0]
    raise AssertionError("unreachable")


STAGING_PREFIX = "pubsub-staging"


def codegen_totals(spark: Any) -> tuple[int, int]:
    """Whole-JVM code generation so far: (classes compiled by Janino, compile milliseconds).

    From Spark's ``CodegenMetrics`` (a histogram of compile times; its sample holds the last
    1,028 compiles, enough for one batch's difference)."""
    metric = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    return int(metric.getCount()), int(sum(metric.getSnapshot().getValues()))


def measure_batch(
    spark: Any,
    settings: Any,
    writer: Any,
    host: str,
    topic: str,
    count: int,
    days: int,
    warmup: int,
    first: int,
    json_path: Path,
) -> tuple[dict[str, float], float]:
    """A warm-up batch (if any), then one measured micro-batch of ``count`` events numbered
    from ``first``: Spark's phase durations (ms) and the publishing time."""
    if warmup:
        # Events numbered after the measured ones: no event id in common.
        warmup_path = json_path.with_name(f"warmup-{first}.jsonl")
        publish_in_child(host, topic, warmup, days, warmup_path, first + count)
        run_available_now(spark, settings, writer)
        log.info(
            "warm-up batch done events=%d staging=%s", warmup, settings.resolved_staging_location
        )
    publish_seconds = publish_in_child(host, topic, count, days, json_path, first)
    log.info("published events=%d seconds=%.1f", count, publish_seconds)
    compiled_before = codegen_totals(spark)
    data_progress = run_available_now(spark, settings, writer)
    compiled_after = codegen_totals(spark)
    log.info(
        "measured batch code generation compiles=%d compile_ms=%d",
        compiled_after[0] - compiled_before[0],
        compiled_after[1] - compiled_before[1],
    )
    if len(data_progress) != 1 or data_progress[0].numInputRows != count:
        raise RuntimeError(
            f"expected one batch of {count} rows, got {[p.numInputRows for p in data_progress]}"
        )
    return dict(data_progress[0].durationMs), publish_seconds


def run(
    count: int,
    days: int,
    warmup: int = 0,
    staging: str = "local",
    master: str = "local[2]",
    write_method: str = "load",
) -> dict[str, Any]:
    """Measure; ``staging="gs"`` measures the batch with staging on fake-gcs-server, then the
    same with local staging (a query of its own, with its own warm-up); ``master`` is
    ``local[N]``, ``standalone`` (a Master and 2 Workers x 1 core started here) or a URL."""
    from google.cloud import pubsub_v1

    from harness.spark_cluster import StandaloneCluster
    from streaming import job
    from streaming.metrics import StreamStatus
    from streaming.resources import create_sink_resources
    from streaming.settings import StreamSettings

    OrderEvent.model_validate_json(next(events(1, days)))  # the template is a valid event
    with (
        tempfile.TemporaryDirectory(prefix="olist-bench-stream-") as directory,
        LocalPipeline(Path(directory)) as pipeline,
        ExitStack() as cluster_stack,
        # The job's processes only: the emulators run in sessions of their own.
        peak_proportional_set(_process_kind, interval=0.25) as memory,
    ):
        work = pipeline.work_dir
        pubsub = pipeline.start_pubsub()
        pipeline.start_gcs()
        pipeline.start_bigquery()  # tables in memory: see the module docstring
        if master == "standalone":
            cluster = StandaloneCluster(work / "spark", workers=2, cores=1, memory="3g")
            master = cluster_stack.enter_context(cluster).master_url
        os.environ.update(
            pipeline.variables,
            OLIST_CHECKPOINT_DIR=str(work / "checkpoint"),
            OLIST_METRICS_PORT="0",
            OLIST_SPARK_MASTER=master,
            # Every executor of a local cluster runs on this host and sees the checkpoint.
            OLIST_SHARED_FILESYSTEM="true",
        )
        if not master.startswith("local"):
            os.environ.setdefault(
                "PYSPARK_SUBMIT_ARGS", "--conf spark.executor.memory=2g pyspark-shell"
            )
        topic = "projects/olist-local/topics/bench"
        subscription = "projects/olist-local/subscriptions/bench"
        pubsub_v1.PublisherClient().create_topic(name=topic)
        pubsub_v1.SubscriberClient().create_subscription(
            name=subscription, topic=topic, ack_deadline_seconds=600
        )
        json_path = work / "events.jsonl"
        gs_staging = f"gs://{pipeline.bucket}/{STAGING_PREFIX}"
        settings = StreamSettings(
            pubsub_subscription="bench",
            available_now=True,
            staging_location=gs_staging if staging == "gs" else None,
            bigquery_write_method="load" if write_method == "both" else write_method,
        )
        create_sink_resources(settings)  # what `olist setup` does: bucket, dataset, tables
        status = StreamStatus()
        spark = job.build_spark_session(settings)
        job.check_deployment(spark, settings)
        writer = job.build_writer(settings, status)
        startup_warmup_seconds = None
        if settings.stream_warmup:
            # What `olist stream` does before its query starts (streaming.warmup).
            from streaming.warmup import warm_up

            lakes = (writer.events_lake, writer.rejected_lake)
            startup_warmup_seconds = warm_up(spark, settings, lakes, status).seconds
        outcomes: list[Any] = []
        writer.on_batch = outcomes.append
        batch_ms, publish_seconds = measure_batch(
            spark, settings, writer, pubsub.host, topic, count, days, warmup, 0, json_path
        )
        outcome = max(outcomes, key=lambda item: item.valid_rows)
        batch_seconds = batch_ms["triggerExecution"] / 1000
        expected_rows = count + warmup
        local_staging_seconds = None
        if staging == "gs":
            # The same batch with local staging: a query of its own (checkpoint, staging).
            local_settings = StreamSettings(
                pubsub_subscription="bench",
                available_now=True,
                checkpoint_dir=work / "checkpoint-local-staging",
                staging_dir=work / "local-staging",
            )
            writer.query_id = lambda: "local-staging"
            local_ms, _ = measure_batch(
                spark, local_settings, writer, pubsub.host, topic, count, days, warmup,
                2 * (count + warmup), work / "events-local.jsonl",
            )  # fmt: skip
            local_staging_seconds = local_ms["triggerExecution"] / 1000
            expected_rows += count + warmup
        storage_write: Any = None
        if write_method == "both":
            # The same batch through the Storage Write API: a query of its own.
            storage_settings = StreamSettings(
                pubsub_subscription="bench",
                available_now=True,
                checkpoint_dir=work / "checkpoint-storage-write",
                staging_location=f"{gs_staging}-storage-write" if staging == "gs" else None,
                staging_dir=work / "storage-write-staging",
                bigquery_write_method="storage_write",
            )
            storage_writer = job.build_writer(storage_settings, status)
            storage_writer.query_id = lambda: "storage-write"
            storage_outcomes: list[Any] = []
            storage_writer.on_batch = storage_outcomes.append
            first = 4 * (count + warmup)  # event numbers after every batch above
            storage_ms, _ = measure_batch(
                spark, storage_settings, storage_writer, pubsub.host, topic, count, days, warmup,
                first, work / "events-storage-write.jsonl",
            )  # fmt: skip
            storage_write = (
                storage_ms["triggerExecution"] / 1000,
                max(storage_outcomes, key=lambda item: item.valid_rows),
            )
            expected_rows += count + warmup
        (loaded,) = pipeline.query(f"SELECT COUNT(*) AS n FROM {pipeline.table()}")
        if loaded["n"] != expected_rows:
            raise RuntimeError(f"BigQuery holds {loaded['n']} rows, expected {expected_rows}")

        empty_settings = StreamSettings(pubsub_subscription="bench", trigger_interval="1 second")
        idle = job.start_query(spark, empty_settings, writer)
        deadline = time.monotonic() + 60
        empty_trigger_seconds = None
        while time.monotonic() < deadline and empty_trigger_seconds is None:
            time.sleep(1)
            for progress in idle.recentProgress:
                if progress.numInputRows == 0 and "triggerExecution" in progress.durationMs:
                    empty_trigger_seconds = progress.durationMs["triggerExecution"] / 1000
        idle.stop()

        from schemas.derive import spark_schema

        plain_started = time.monotonic()
        spark.read.schema(spark_schema()).json(str(json_path)).write.mode("overwrite").parquet(
            str(work / "plain-parquet")
        )
        plain_seconds = time.monotonic() - plain_started
        spark.stop()
    # The driver's share of the batch: pulling and staging (latestOffset), planning, the
    # BigQuery load; the rest (read, decode, dedup, Parquet) runs in tasks on the executors.
    driver_seconds = (
        batch_ms.get("latestOffset", 0) + batch_ms.get("queryPlanning", 0)
    ) / 1000 + outcome.bigquery_seconds
    result: dict[str, Any] = {
        "events": count,
        "master": master if master.startswith("local") else "2 workers x 1 core",
        "staging": staging,
        "batch_seconds": round(batch_seconds, 2),
    }
    if local_staging_seconds is not None:
        result["local_staging_batch_seconds"] = round(local_staging_seconds, 2)
        result["ratio_vs_local_staging"] = round(batch_seconds / local_staging_seconds, 2)
    result["write_method"] = write_method
    result["bigquery_seconds"] = round(outcome.bigquery_seconds, 2)
    if storage_write is not None:
        storage_seconds, storage_outcome = storage_write
        result["storage_write_batch_seconds"] = round(storage_seconds, 2)
        result["storage_write_bigquery_seconds"] = round(storage_outcome.bigquery_seconds, 2)
        result["storage_write_spark_and_lake_seconds"] = round(storage_outcome.write_seconds, 2)
        result["ratio_storage_write_vs_load"] = round(storage_seconds / batch_seconds, 2)
    result.update(
        {
            "events_per_s": round(count / batch_seconds),
            "plain_spark_seconds": round(plain_seconds, 2),
            "ratio_vs_plain_spark": round(batch_seconds / plain_seconds, 2),
            "empty_trigger_seconds": empty_trigger_seconds,
            "peak_rss_mb": round(memory.peak_bytes / 2**20),
            "driver_side_seconds": round(driver_seconds, 2),
            "driver_ceiling_events_per_s": round(count / driver_seconds),
            "purchase_days": days,
            "objects_written": outcome.objects,
            "bytes_written": outcome.bytes_written,
            "startup_warmup_seconds": (
                None if startup_warmup_seconds is None else round(startup_warmup_seconds, 2)
            ),
            "_details": {
                "memory_mb": {
                    kind: round(size / 2**20) for kind, size in sorted(memory.breakdown.items())
                },
                "publish_seconds": round(publish_seconds, 1),
                "spark_duration_ms": batch_ms,
                "sink_seconds": round(outcome.seconds, 2),
                "write_seconds": round(outcome.write_seconds, 2),
                "bigquery_seconds": round(outcome.bigquery_seconds, 2),
                "warmup_events": warmup,
            },
        }
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="purchase dates spread over")
    parser.add_argument(
        "--warmup-events",
        type=int,
        default=20_000,
        help="run a first micro-batch of this many other events before the measured one "
        "(0: measure the first batch of a fresh JVM)",
    )
    parser.add_argument(
        "--staging",
        choices=("local", "gs"),
        default="local",
        help="gs: stage on fake-gcs-server, and measure the same batch with local staging "
        "in the same run (local_staging_batch_seconds)",
    )
    parser.add_argument(
        "--write-method",
        choices=("load", "storage_write", "both"),
        default="load",
        help="how valid events reach BigQuery; both: load, then the same batch with "
        "storage_write in the same run (storage_write_batch_seconds)",
    )
    parser.add_argument(
        "--master",
        default="local[2]",
        help="local[N]; standalone: a Master and 2 Workers x 1 core started here; or a URL",
    )
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    with exit_on_termination():
        result = run(
            arguments.events, arguments.days, arguments.warmup_events, arguments.staging,
            arguments.master, arguments.write_method,
        )  # fmt: skip
    details = result.pop("_details")
    rows = [
        ("events in the micro-batch", f"{result['events']:,}"),
        ("warm-up batch before it (events)", f"{details['warmup_events']:,}"),
        (
            "job start-up warm-up (OLIST_STREAM_WARMUP)",
            "off"
            if result["startup_warmup_seconds"] is None
            else f"{result['startup_warmup_seconds']:.2f} s, before the query starts",
        ),
        ("master, staging", f"{result['master']}, {result['staging']}"),
        ("streaming job, one micro-batch", f"{result['batch_seconds']:.2f} s"),
        *(
            [("  same batch, local staging", f"{result['local_staging_batch_seconds']:.2f} s")]
            if "local_staging_batch_seconds" in result
            else []
        ),
        (
            "  driver side (pull + stage, planning, BigQuery)",
            f"{result['driver_side_seconds']:.2f} s, "
            f"ceiling {result['driver_ceiling_events_per_s']:,} events/s",
        ),
        ("  events per second", f"{result['events_per_s']:,}"),
        ("  of which in the foreachBatch sink", f"{details['sink_seconds']:.2f} s"),
        (
            "    Spark (read, decode, dedup) + Parquet to Cloud Storage",
            f"{details['write_seconds']:.2f} s",
        ),
        (
            f"    BigQuery ({result['write_method'].replace('both', 'load')}: staging, counts, "
            "merge)",
            f"{details['bigquery_seconds']:.2f} s",
        ),
        *(
            [
                ("same batch, storage_write", f"{result['storage_write_batch_seconds']:.2f} s"),
                (
                    "    Spark + Parquet + Storage Write appends",
                    f"{result['storage_write_spark_and_lake_seconds']:.2f} s",
                ),
                (
                    "    BigQuery (commit, counts, merge)",
                    f"{result['storage_write_bigquery_seconds']:.2f} s",
                ),
                ("  ratio storage_write / load", f"{result['ratio_storage_write_vs_load']:.2f}"),
            ]
            if "storage_write_batch_seconds" in result
            else []
        ),
        ("  Spark phases (ms)", json.dumps(details["spark_duration_ms"])),
        (
            f"  lake objects written ({result['purchase_days']} purchase dates)",
            f"{result['objects_written']:,} ({result['bytes_written'] / 2**20:,.1f} MB)",
        ),
        ("plain Spark JSON -> Parquet (floor)", f"{result['plain_spark_seconds']:.2f} s"),
        ("ratio job / plain Spark", f"{result['ratio_vs_plain_spark']:.2f}"),
        ("empty trigger", f"{result['empty_trigger_seconds']} s"),
        *memory_rows(
            "peak memory, PSS (driver + JVM + workers)",
            result["peak_rss_mb"],
            details["memory_mb"],
        ),
        ("publishing to the emulator (setup)", f"{details['publish_seconds']} s"),
    ]
    print_table(rows)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
