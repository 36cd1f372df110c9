"""Rejected payloads of up to 10 MB reach the sink's tasks in Arrow batches bounded by bytes
(issue 15, section 5): cut into chunks in Spark, joined again in the task, byte for byte."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emulators.gcs import FakeGcsServer
from streaming.batch_writer import LakeTask, batch_columns, distributed_by_partition
from streaming.lake_writer import LakeWriter
from streaming.payload_chunks import (
    CHUNK_COUNT,
    CHUNK_INDEX,
    CHUNK_OF,
    PayloadChunkError,
    PayloadJoiner,
    chunk_bytes_for,
)
from streaming.sink_rows import rows_for_sinks
from tests.streaming.test_any_payload_to_sink_rows import source_rows, valid_event

ROWS_PER_ARROW_BATCH = 64
PAYLOAD_BYTES_PER_BATCH = 8 * 1024 * 1024
BIG_PAYLOAD = 10 * 1024 * 1024


def _chunked(rows: list[tuple[bytes | None, int, int]]) -> pa.Table:
    """Chunk rows as Spark hands them over: (chunk, index, count), one payload per count."""
    return pa.table(
        {
            "raw_payload": pa.array([row[0] for row in rows], pa.binary()),
            "reason": pa.array(["r" if row[0] is not None else None for row in rows]),
            CHUNK_INDEX: pa.array([row[1] for row in rows], pa.int32()),
            CHUNK_COUNT: pa.array([row[2] for row in rows], pa.int32()),
            CHUNK_OF: pa.array(["m:0" if row[2] > 1 else None for row in rows]),
        }
    )


def test_a_payload_cut_across_arrow_batches_is_joined_in_order_and_small_rows_pass() -> None:
    joiner = PayloadJoiner()
    first = joiner.join(_chunked([(None, 0, 1), (b"ab", 0, 3), (b"cd", 1, 3)]))
    second = joiner.join(_chunked([(b"ef", 2, 3), (b"small", 0, 1), (None, 0, 1)]))
    joiner.close()
    assert first.column_names == ["raw_payload", "reason"]
    assert first.column("raw_payload").to_pylist() == [None]
    assert second.column("raw_payload").to_pylist() == [b"abcdef", b"small", None]


def test_chunks_out_of_order_or_an_unfinished_payload_fail_the_task() -> None:
    with pytest.raises(PayloadChunkError, match="expected chunk 0"):
        PayloadJoiner().join(_chunked([(b"cd", 1, 2), (b"ab", 0, 2)]))
    unfinished = PayloadJoiner()
    unfinished.join(_chunked([(b"ab", 0, 2)]))
    with pytest.raises(PayloadChunkError, match="ended inside a cut payload"):
        unfinished.close()


def _payload_bytes_per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        payloads = batch.column(batch.schema.get_field_index("raw_payload")).to_pylist()
        size = sum(len(payload) for payload in payloads if payload is not None)
        yield pa.RecordBatch.from_pylist([{"payload_bytes": size, "rows": batch.num_rows}])


@pytest.fixture
def small_arrow_batches(spark: Any) -> Iterator[Any]:
    """Spark's Arrow batches to Python of ``ROWS_PER_ARROW_BATCH`` rows, without a byte
    bound (the job's INT_MAX), for this test only."""
    previous = {
        name: spark.conf.get(name, None)
        for name in (
            "spark.sql.execution.arrow.maxRecordsPerBatch",
            "spark.sql.execution.arrow.maxBytesPerBatch",
        )
    }
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ROWS_PER_ARROW_BATCH))
    spark.conf.set("spark.sql.execution.arrow.maxBytesPerBatch", str(2**31 - 1))
    try:
        yield spark
    finally:
        for name, value in previous.items():
            if value is None:
                spark.conf.unset(name)
            else:
                spark.conf.set(name, value)


def test_ten_megabyte_rejected_payloads_cross_in_arrow_batches_under_the_byte_bound(
    small_arrow_batches: Any, gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    spark = small_arrow_batches
    big = [b"\xff" + os.urandom(BIG_PAYLOAD - 1) for _ in range(4)]  # not UTF-8: rejected
    small = [b"{not json %d" % index for index in range(20)]
    messages: list[tuple[bytes, dict[str, str]]] = [(payload, {}) for payload in [*big, *small]]
    messages += [(valid_event(), {}) for _ in range(20)]
    columns = batch_columns(rows_for_sinks(spark.createDataFrame(source_rows(messages))))
    chunk_bytes = chunk_bytes_for(PAYLOAD_BYTES_PER_BATCH, ROWS_PER_ARROW_BATCH)

    # Without chunks, one Arrow batch would carry all four 10 MB payloads (the test's teeth).
    unbounded = distributed_by_partition(columns, chunk_bytes=2 * BIG_PAYLOAD)
    unbounded_sizes = unbounded.mapInArrow(
        _payload_bytes_per_batch, "payload_bytes long, rows long"
    )
    assert max(row.payload_bytes for row in unbounded_sizes.collect()) >= 4 * BIG_PAYLOAD

    bounded = distributed_by_partition(columns, chunk_bytes)
    sizes = bounded.mapInArrow(_payload_bytes_per_batch, "payload_bytes long, rows long").collect()
    assert max(row.payload_bytes for row in sizes) <= PAYLOAD_BYTES_PER_BATCH
    assert sum(row.payload_bytes for row in sizes) == sum(map(len, [*big, *small]))
    assert sum(row.rows for row in sizes) == 20 + 20 + 4 * -(-BIG_PAYLOAD // chunk_bytes)

    # The task joins the chunks again: every rejected payload lands in the lake whole.
    client = gcs_server.storage_client()
    events_lake = LakeWriter(client, gcs_bucket, "events", "purchase_date")
    rejected_lake = LakeWriter(client, gcs_bucket, "rejected", "rejected_date")
    task = LakeTask(events_lake, rejected_lake, "query-chunks", 5)
    from pyspark.sql.pandas.types import from_arrow_schema

    from streaming.batch_writer import WRITTEN_SCHEMA

    reports = bounded.mapInArrow(task, from_arrow_schema(WRITTEN_SCHEMA)).collect()
    assert sum(row.rows for row in reports if row.kind == "events") == 20
    lake_payloads: list[bytes] = []
    for blob in client.list_blobs(gcs_bucket, prefix="rejected/"):
        table = pq.read_table(io.BytesIO(blob.download_as_bytes()))
        lake_payloads += [payload or b"" for payload in table.column("raw_payload").to_pylist()]
    assert sorted(lake_payloads) == sorted([*big, *small])
