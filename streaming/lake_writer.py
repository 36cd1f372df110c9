"""Write a micro-batch as Parquet objects in Cloud Storage, partitioned by a date column.

Spark cannot write ``gs://`` without the GCS connector jar, so the driver writes the files
with pyarrow and uploads them with the google-cloud-storage client. Object names depend only
on the batch id, the partition value and the part number::

    <prefix>/<partition_column>=2017-10-02/batch=000000000042-part-0000.parquet

so replaying a batch overwrites its objects instead of adding copies. A small manifest per
batch (``<prefix>/_batches/batch=000000000042.json``) lists what the batch wrote; a replay that
writes fewer parts (for instance after ``lake_max_rows_per_file`` changed) deletes the
leftovers, so a partition never holds rows of one batch twice.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from google.cloud import storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrittenObject:
    """One Parquet object of a batch."""

    name: str
    partition: str
    rows: int
    bytes: int


class LakeWriter:
    """Writes Arrow tables of one kind (events, or rejected rows) under one prefix."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        prefix: str,
        partition_column: str,
        max_rows_per_file: int = 500_000,
        upload_threads: int = 16,
    ) -> None:
        self._bucket = client.bucket(bucket)
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.partition_column = partition_column
        self.max_rows_per_file = max_rows_per_file
        self.upload_threads = upload_threads

    def uri(self, written: WrittenObject) -> str:
        return f"gs://{self.bucket_name}/{written.name}"

    def manifest_name(self, batch_id: int) -> str:
        return f"{self.prefix}/_batches/batch={batch_id:012d}.json"

    def _parts(self, table: pa.Table, batch_id: int) -> Iterator[tuple[str, str, pa.Table]]:
        if table.num_rows == 0:
            return
        ordered = table.sort_by(self.partition_column)
        # value_counts lists values in order of first appearance: on a sorted column, that is
        # sorted order, and each partition is one contiguous run of rows.
        runs = pc.value_counts(ordered.column(self.partition_column))
        start = 0
        for value, length in zip(
            runs.field("values").to_pylist(), runs.field("counts").to_pylist(), strict=True
        ):
            partition = f"{self.partition_column}={value.isoformat()}"
            for part, offset in enumerate(range(0, length, self.max_rows_per_file)):
                size = min(self.max_rows_per_file, length - offset)
                name = f"{self.prefix}/{partition}/batch={batch_id:012d}-part-{part:04d}.parquet"
                yield name, partition, ordered.slice(start + offset, size)
            start += length

    def _upload(self, name: str, partition: str, part: pa.Table) -> WrittenObject:
        buffer = io.BytesIO()
        pq.write_table(part, buffer, compression="snappy")
        data = buffer.getvalue()
        self._bucket.blob(name).upload_from_string(
            data, content_type="application/vnd.apache.parquet"
        )
        return WrittenObject(name=name, partition=partition, rows=part.num_rows, bytes=len(data))

    def write_batch(self, table: pa.Table, batch_id: int) -> list[WrittenObject]:
        """Write ``table`` as the objects of ``batch_id``; returns them in name order."""
        previous = self._read_manifest(batch_id)
        with ThreadPoolExecutor(max_workers=self.upload_threads) as pool:
            written = list(pool.map(lambda job: self._upload(*job), self._parts(table, batch_id)))
        names = {item.name for item in written}
        for stale in sorted(set(previous) - names):
            log.info(
                "lake deleting stale object of replayed batch batch_id=%s name=%s", batch_id, stale
            )
            self._bucket.blob(stale).delete()
        manifest = {"batch_id": batch_id, "objects": sorted(names), "rows": table.num_rows}
        self._bucket.blob(self.manifest_name(batch_id)).upload_from_string(
            json.dumps(manifest), content_type="application/json"
        )
        log.info(
            "lake batch written batch_id=%s prefix=%s objects=%d rows=%d bytes=%d",
            batch_id, self.prefix, len(written), table.num_rows, sum(w.bytes for w in written),
        )  # fmt: skip
        return sorted(written, key=lambda item: item.name)

    def _read_manifest(self, batch_id: int) -> list[str]:
        from google.api_core.exceptions import NotFound

        try:
            content = self._bucket.blob(self.manifest_name(batch_id)).download_as_bytes()
        except NotFound:
            return []
        return list(json.loads(content)["objects"])
