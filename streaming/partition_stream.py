"""Write a stream of rows sorted by partition value as one Parquet object per partition.

A Spark task of the sink receives its rows as a stream of Arrow batches, sorted by partition
value (the batch is distributed and sorted by partition before the task: see
:func:`streaming.batch_writer.distributed_by_partition`). :class:`PartitionStream` keeps one
Parquet file open at a time, the current partition's, and starts the next part of the same
partition only when the file reaches ``max_rows_per_file`` rows or ``max_bytes_per_file``
bytes. So a batch writes one object per partition it touches (until a size limit), and the
task holds one file and a bounded number of uploads in memory, never its whole input.

Finished files are uploaded by a thread pool while the next one is written; at most
``max_bytes_in_flight`` bytes wait for their upload.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streaming.lake_writer import LakeWriter, WrittenObject

DEFAULT_MAX_BYTES_PER_FILE = 256 * 1024 * 1024
DEFAULT_MAX_BYTES_IN_FLIGHT = 512 * 1024 * 1024


class PartitionStream:
    """One Spark task's rows of one kind (events or rejected) to the lake, streamed."""

    def __init__(
        self,
        lake: LakeWriter,
        schema: pa.Schema,
        object_name: Callable[[str, int], str],
        max_bytes_per_file: int = DEFAULT_MAX_BYTES_PER_FILE,
        max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
    ) -> None:
        self.lake = lake
        self.schema = schema
        self.object_name = object_name
        self.max_bytes_per_file = max_bytes_per_file
        self.max_bytes_in_flight = max_bytes_in_flight
        self._pool = ThreadPoolExecutor(max_workers=lake.upload_threads)
        self._uploads: list[tuple[Future[WrittenObject], int]] = []
        self._written: list[WrittenObject] = []
        self._partition: str | None = None
        self._part = 0
        self._rows = 0
        self._buffer: io.BytesIO | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        """Append ``table``: rows sorted by the partition column, continuing the stream's order."""
        if table.num_rows == 0:
            return
        column = table.column(self.lake.partition_column)
        # value_counts lists values in order of first appearance: on a sorted column each
        # partition is one contiguous run. The partition columns are non-nullable dates.
        runs = pc.value_counts(column)
        values = cast("list[date]", runs.field("values").to_pylist())
        counts = cast("list[int]", runs.field("counts").to_pylist())
        start = 0
        for value, length in zip(values, counts, strict=True):
            partition = f"{self.lake.partition_column}={value.isoformat()}"
            if partition != self._partition:
                self._finish_file()
                self._partition, self._part = partition, 0
            offset = 0
            while offset < length:
                if self._rows >= self.lake.max_rows_per_file or self._file_bytes() >= (
                    self.max_bytes_per_file
                ):
                    self._finish_file()
                    self._part += 1
                room = self.lake.max_rows_per_file - self._rows
                size = min(room, length - offset)
                self._file().write_table(table.slice(start + offset, size))
                self._rows += size
                offset += size
            start += length

    def close(self) -> list[WrittenObject]:
        """Finish the last file, wait for every upload; the objects written, by name."""
        self._finish_file()
        for upload, _ in self._uploads:
            self._written.append(upload.result())
        self._uploads.clear()
        self._pool.shutdown()
        return sorted(self._written, key=lambda item: item.name)

    def _file(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._buffer = io.BytesIO()
            self._writer = pq.ParquetWriter(self._buffer, self.schema, compression="snappy")
        return self._writer

    def _file_bytes(self) -> int:
        return 0 if self._buffer is None else self._buffer.tell()

    def _finish_file(self) -> None:
        if self._writer is None or self._buffer is None or self._partition is None:
            return
        self._writer.close()
        data = self._buffer.getvalue()
        written = WrittenObject(
            name=self.object_name(self._partition, self._part),
            partition=self._partition,
            rows=self._rows,
            bytes=len(data),
        )
        self._writer, self._buffer, self._rows = None, None, 0
        self._uploads.append((self._pool.submit(self.lake.upload, written, data), len(data)))
        while sum(size for _, size in self._uploads) > self.max_bytes_in_flight:
            upload, _ = self._uploads.pop(0)
            self._written.append(upload.result())


def write_parts(
    lake: LakeWriter, table: pa.Table, query_id: str, batch_id: int, task: int
) -> list[WrittenObject]:
    """Upload a whole ``table`` as Parquet objects of ``batch_id`` (``task``: the Spark task).

    One object per partition value (split at ``max_rows_per_file``). Names depend only on
    the query, the batch, the task, the partition and the part number, so a replay
    overwrites. The batch is complete once :meth:`LakeWriter.finish_batch` ran.
    """

    def name(partition: str, part: int) -> str:
        return lake.object_name(query_id, batch_id, task, partition, part)

    stream = PartitionStream(lake, table.schema, name)
    stream.write(table.sort_by(lake.partition_column))
    return stream.close()
