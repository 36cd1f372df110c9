"""Rejected payloads cut into chunks on their way to the sink's Python tasks, joined there.

Spark hands a ``mapInArrow`` task its rows as Arrow batches of
``spark.sql.execution.arrow.maxRecordsPerBatch`` rows (10,000). The job turns off Spark's
byte bound on those batches (``arrow.maxBytesPerBatch`` = INT_MAX: the check sizes every
vector after every row, a fifth of the JVM's CPU; docs/operations/streaming.md#measurements),
so a batch is as large as its rows. Valid rows are small, but a rejected row carries its raw
payload, up to 10 MB (Pub/Sub's message limit): 10,000 of them would make one batch of
100 GB, past the 2 GiB a binary column's int32 offsets can address, in the JVM and in the
Python worker alike, and a batch that fails once fails on every replay.

So each raw payload crosses as chunks of at most ``chunk_bytes`` bytes, one row each
(:func:`chunked_payloads`, in Spark), with ``chunk_bytes`` = the byte bound divided by the
rows per Arrow batch (:func:`chunk_bytes_for`): no batch then carries more than the bound of
payload bytes, whatever the payloads. The chunks of one payload are sorted together, in order,
and the task joins them again (:class:`PayloadJoiner`), across Arrow batches when they span
two. Valid rows (no payload) and payloads of one chunk pass through without a copy. The
message attributes of a cut payload travel with its last chunk only; Pub/Sub bounds them
(100 attributes of 256 + 1,024 bytes at most).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from streaming.rejected_key import rejected_row_key

DEFAULT_PAYLOAD_BYTES_PER_ARROW_BATCH = 256 * 1024 * 1024
"""Raw payload bytes in one Arrow batch handed to a sink task, at most (before the bound
divides by the batch's rows: 26 KB chunks at Spark's default 10,000 rows per batch)."""

CHUNK_INDEX = "_payload_chunk"
CHUNK_COUNT = "_payload_chunks"
CHUNK_OF = "_payload_chunk_of"
"""Sort key that keeps a payload's chunks together: the rejected row's key (message id, publish
time, event index: :mod:`streaming.rejected_key`; two messages may share an id), null for valid
rows, so their sort stays as cheap as before."""
CHUNK_COLUMNS = (CHUNK_INDEX, CHUNK_COUNT, CHUNK_OF)

PAYLOAD = "raw_payload"
ATTRIBUTES = "attributes_json"


class PayloadChunkError(RuntimeError):
    """A task received a payload's chunks out of order (a bug in the sort, not in the data)."""


def chunk_bytes_for(payload_bytes_per_batch: int, rows_per_batch: int) -> int:
    """Chunk size that keeps ``rows_per_batch`` rows within ``payload_bytes_per_batch``."""
    if payload_bytes_per_batch < 1 or rows_per_batch < 1:
        raise ValueError(
            f"expected positive bounds, found {payload_bytes_per_batch} bytes per batch and "
            f"{rows_per_batch} rows per batch"
        )
    return max(1, payload_bytes_per_batch // rows_per_batch)


def chunked_payloads(columns: DataFrame, chunk_bytes: int, rejected: Column) -> DataFrame:
    """Every row once per chunk of its ``raw_payload`` (once when it has none or it is small).

    Adds :data:`CHUNK_INDEX`, :data:`CHUNK_COUNT` and :data:`CHUNK_OF`; ``raw_payload`` then
    holds the chunk, ``attributes_json`` is kept on the last chunk only.
    """
    payload = F.col(PAYLOAD)
    size = F.octet_length(payload)
    whole = payload.isNull() | (size <= chunk_bytes)
    count = F.when(whole, F.lit(1)).otherwise(F.ceil(size / F.lit(chunk_bytes)).cast("int"))
    # One row per chunk index, then the chunk's substring: no higher-order function. A Python
    # lambda (F.transform) gets a fresh variable name on every call, and Spark writes that
    # name into the generated code: this stage, built again for every micro-batch, was then
    # compiled again for every batch (docs/operations/streaming.md#the-first-batch-after-a-start).
    exploded = columns.select(
        "*",
        count.alias(CHUNK_COUNT),
        F.explode(F.sequence(F.lit(0), count - 1)).alias(CHUNK_INDEX),
    )
    index = F.col(CHUNK_INDEX)
    chunk = F.when(whole, payload).otherwise(
        F.substring(payload, index * chunk_bytes + 1, F.lit(chunk_bytes))
    )
    exploded = exploded.withColumn("_chunk", chunk)
    last = index == F.col(CHUNK_COUNT) - 1
    key = rejected_row_key(
        F.col("pubsub_message_id"), F.col("pubsub_publish_time"), F.col("event_index")
    )
    return (
        exploded.withColumn(PAYLOAD, F.col("_chunk"))
        .withColumn(ATTRIBUTES, F.when(last, F.col(ATTRIBUTES)))
        .withColumn(CHUNK_OF, F.when(rejected, key))
        .drop("_chunk")
    )


class PayloadJoiner:
    """One task's chunked rows back to one row per payload (keeps a cut payload's chunks
    across Arrow batches; holds at most one payload's chunks between batches)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def join(self, table: pa.Table) -> pa.Table:
        """The rows of ``table`` with their payloads whole, without the chunk columns.

        A payload whose last chunk is in a later batch comes out with that batch.
        """
        counts = table.column(CHUNK_COUNT)
        cut = pc.greater(counts, pa.scalar(1, counts.type))
        if not self._chunks and not pc.any(cut).as_py():
            return table.drop_columns(list(CHUNK_COLUMNS))  # the common case: nothing cut
        indexes = table.column(CHUNK_INDEX)
        last = pc.equal(indexes, pc.subtract(counts, pa.scalar(1, counts.type)))
        kept = pc.or_(pc.invert(cut), last)
        payloads = table.column(PAYLOAD).to_pylist()
        cut_flags = cut.to_pylist()
        last_flags = last.to_pylist()
        index_values = indexes.to_pylist()
        joined: list[bytes | None] = []
        for row, is_cut in enumerate(cut_flags):
            if not is_cut:
                joined.append(payloads[row])
                continue
            if index_values[row] != len(self._chunks):
                raise PayloadChunkError(
                    f"expected chunk {len(self._chunks)} of a cut payload, found chunk "
                    f"{index_values[row]} ({table.column(CHUNK_OF)[row].as_py()})"
                )
            self._chunks.append(payloads[row] or b"")
            if last_flags[row]:
                joined.append(b"".join(self._chunks))
                self._chunks = []
        whole = table.filter(kept).drop_columns(list(CHUNK_COLUMNS))
        position = whole.schema.get_field_index(PAYLOAD)
        field = whole.schema.field(position)
        return whole.set_column(position, field, pa.array(joined, field.type))

    def close(self) -> None:
        """Check that no payload was left half joined at the end of the task's input."""
        if self._chunks:
            raise PayloadChunkError(
                f"the task's input ended inside a cut payload ({len(self._chunks)} chunks)"
            )
