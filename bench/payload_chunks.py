"""What cutting rejected payloads into chunks costs a batch of valid rows only.

``python -m bench.payload_chunks --rows 500000`` runs, in one local[2] Spark session, the sink's
distribution step (:func:`streaming.batch_writer.distributed_by_partition`: chunking, repartition
by kind and date, sort) and a task that joins the chunks (:class:`PayloadJoiner`) and counts
the rows, on ``--rows`` valid rows over ``--days`` purchase dates, against the same step
without the chunking (repartition and sort only, a task that counts). Valid rows carry no
payload, so the difference is the chunk columns, the ``posexplode`` and the joiner's check.
The two are run alternately ``--repeats`` times; the medians are compared.

Prints a table, then one JSON line: ``{"rows", "days", "repeats", "with_chunks_seconds",
"without_chunks_seconds", "ratio_with_vs_without", "load_average"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from bench.report import print_table

WIDTH_BYTES = 600
"""Bytes of event fields per valid row (a decoded order event is a few hundred bytes)."""


def valid_rows(spark: Any, rows: int, days: int) -> Any:
    """``rows`` valid rows with the columns the distribution step reads."""
    from pyspark.sql import functions as F

    from schemas.warehouse import PARTITION_FIELD

    return spark.range(rows).select(
        F.expr("uuid()").alias("event_id"),
        F.repeat(F.lit("x"), WIDTH_BYTES).alias("fields"),
        F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % days).cast("int")).alias(
            PARTITION_FIELD
        ),
        F.col("id").cast("string").alias("pubsub_message_id"),
        F.current_timestamp().alias("pubsub_publish_time"),
        F.lit(0).cast("long").alias("event_index"),
        F.lit(None).cast("date").alias("rejected_date"),
        F.lit(None).cast("string").alias("attributes_json"),
        F.lit(None).cast("binary").alias("raw_payload"),
        F.lit(None).cast("string").alias("reason"),
    )


def _joined_count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    from streaming.payload_chunks import PayloadJoiner

    joiner, rows = PayloadJoiner(), 0
    for batch in batches:
        rows += joiner.join(pa.Table.from_batches([batch])).num_rows
    joiner.close()
    yield pa.RecordBatch.from_pylist([{"rows": rows}])


def _count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield pa.RecordBatch.from_pylist([{"rows": sum(batch.num_rows for batch in batches)}])


def timed(frame: Any, task: Any) -> tuple[float, int]:
    started = time.monotonic()
    rows = sum(row.rows for row in frame.mapInArrow(task, "rows long").collect())
    return time.monotonic() - started, rows


def _runs(median: float, runs: list[float]) -> str:
    return f"{median:.2f} s (runs: {', '.join(f'{run:.2f}' for run in runs)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from streaming.batch_writer import LAKE_DATE, LAKE_KIND, distributed_by_partition

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxBytesPerBatch", str(2**31 - 1))
        .getOrCreate()
    )
    try:
        columns = valid_rows(spark, args.rows, args.days).cache()
        columns.count()
        rejected = F.col("reason").isNotNull()
        date = F.when(rejected, F.col("rejected_date")).otherwise(F.col("purchase_date"))
        without = (
            columns.withColumn(LAKE_KIND, rejected)
            .withColumn(LAKE_DATE, date)
            .repartition(LAKE_KIND, LAKE_DATE)
            .sortWithinPartitions(LAKE_KIND, LAKE_DATE)
        )
        with_chunks = distributed_by_partition(columns)
        timed(with_chunks, _joined_count)  # warm-up: JIT, Python workers
        timed(without, _count)
        seconds: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.repeats):
            for name, frame, task in (
                ("with", with_chunks, _joined_count),
                ("without", without, _count),
            ):
                elapsed, rows = timed(frame, task)
                if rows != args.rows:
                    raise RuntimeError(f"expected {args.rows} rows through {name}, found {rows}")
                seconds[name].append(elapsed)
    finally:
        spark.stop()
    with_median = statistics.median(seconds["with"])
    without_median = statistics.median(seconds["without"])
    result = {
        "rows": args.rows,
        "days": args.days,
        "repeats": args.repeats,
        "with_chunks_seconds": round(with_median, 2),
        "without_chunks_seconds": round(without_median, 2),
        "ratio_with_vs_without": round(with_median / without_median, 3),
        "load_average": [round(value, 1) for value in os.getloadavg()],
    }
    print_table(
        [
            ("valid rows, purchase days", f"{args.rows:,}, {args.days}"),
            ("with chunking (median)", _runs(with_median, seconds["with"])),
            ("without chunking (median)", _runs(without_median, seconds["without"])),
            ("ratio", f"{result['ratio_with_vs_without']}"),
        ]
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
