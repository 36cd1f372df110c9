"""Write a micro-batch as Parquet objects in Cloud Storage, partitioned by a date column.

Spark cannot write ``gs://`` without the GCS connector jar, so the files are written with
pyarrow and uploaded with the google-cloud-storage client: by the Spark tasks themselves
(:class:`streaming.partition_stream.PartitionStream`, in ``mapInArrow``), the driver only
writing the batch's manifest. Object names depend only on the streaming query's id (kept in the
checkpoint), the batch id, the task, the partition value and the part number::

    <prefix>/<column>=2017-10-02/query=<id>-batch=000000000042-task-0001-part-0000.parquet

so replaying a batch overwrites its objects instead of adding copies, a new checkpoint (whose
batch ids restart at 0) never touches an earlier run's objects, and a load job names all of a
batch's objects with one wildcard URI per task and part (:meth:`LakeWriter.load_uris`). A
small manifest per batch (``<prefix>/_batches/query=<query id>/batch=000000000042.json``) lists
what the batch wrote; a replay that writes fewer parts (for instance after
``lake_max_rows_per_file`` changed) deletes the leftovers, so a partition never holds rows of
one batch twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
    """Writes Arrow tables of one kind (events, or rejected rows) under one prefix.

    Picklable: Spark tasks get a copy that opens its own client to the same endpoint (with
    the same kind of credentials), so executors upload their rows themselves
    (:class:`streaming.partition_stream.PartitionStream`) and the driver only records the
    batch (:meth:`finish_batch`).
    """

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
        self._client_config = _client_config(client)
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.partition_column = partition_column
        self.max_rows_per_file = max_rows_per_file
        self.upload_threads = upload_threads

    def __getstate__(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if key != "_bucket"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._bucket = _client(*self._client_config).bucket(self.bucket_name)

    def load_uris(self, written: list[WrittenObject], query_id: str, batch_id: int) -> list[str]:
        """URIs for one load job of what ``batch_id`` wrote: one wildcard per part name.

        ``<prefix>/<column>=*/query=<id>-batch=<id>-task-0001-part-0000.parquet`` names exactly
        that part
        in every partition the batch wrote (names are deterministic and stale parts of an
        earlier attempt are deleted before loading). A load job then reads a handful of URIs
        whatever the number of partitions: BigQuery takes one wildcard per URI, and a loader
        that opens each URI on its own (the emulator runs one INSERT per URI, each a
        noticeable fraction of a second: docs/operations/streaming.md#measurements) stays
        fast when a batch spans hundreds of purchase dates.
        """
        marker = "/" + _batch_stem(query_id, batch_id)
        suffixes = sorted({item.name.rsplit(marker, 1)[1] for item in written})
        return [
            f"gs://{self.bucket_name}/{self.prefix}/{self.partition_column}=*{marker}{suffix}"
            for suffix in suffixes
        ]

    def manifest_name(self, query_id: str, batch_id: int) -> str:
        return f"{self.prefix}/_batches/query={query_id}/batch={batch_id:012d}.json"

    def object_name(
        self, query_id: str, batch_id: int, task: int, partition: str, part: int
    ) -> str:
        """Where part ``part`` of ``partition`` written by ``task`` of ``batch_id`` lives."""
        return (
            f"{self.prefix}/{partition}/{_batch_stem(query_id, batch_id)}"
            f"-task-{task:04d}-part-{part:04d}.parquet"
        )

    def upload(self, written: WrittenObject, data: bytes) -> WrittenObject:
        """Upload one finished Parquet file under ``written.name``."""
        self._bucket.blob(written.name).upload_from_string(
            data, content_type="application/vnd.apache.parquet"
        )
        return written

    def finish_batch(self, written: list[WrittenObject], query_id: str, batch_id: int) -> None:
        """Record what ``batch_id`` wrote; delete objects an earlier attempt left over."""
        previous = self._read_manifest(query_id, batch_id)
        names = {item.name for item in written}
        for stale in sorted(set(previous) - names):
            log.info(
                "lake deleting stale object of replayed batch batch_id=%s name=%s", batch_id, stale
            )
            self._bucket.blob(stale).delete()
        rows = sum(item.rows for item in written)
        manifest = {
            "query_id": query_id,
            "batch_id": batch_id,
            "objects": sorted(names),
            "rows": rows,
        }
        self._bucket.blob(self.manifest_name(query_id, batch_id)).upload_from_string(
            json.dumps(manifest), content_type="application/json"
        )
        log.info(
            "lake batch written batch_id=%s prefix=%s objects=%d rows=%d bytes=%d",
            batch_id, self.prefix, len(written), rows, sum(w.bytes for w in written),
        )  # fmt: skip

    def _read_manifest(self, query_id: str, batch_id: int) -> list[str]:
        from google.api_core.exceptions import NotFound

        try:
            content = self._bucket.blob(self.manifest_name(query_id, batch_id)).download_as_bytes()
        except NotFound:
            return []
        return list(json.loads(content)["objects"])


def _batch_stem(query_id: str, batch_id: int) -> str:
    """The start of every object name of one batch of one query."""
    return f"query={query_id}-batch={batch_id:012d}"


def _client_config(client: storage.Client) -> tuple[str, str, bool]:
    from google.auth.credentials import AnonymousCredentials

    anonymous = isinstance(client._credentials, AnonymousCredentials)
    return client.project, client.api_endpoint, anonymous


def _client(project: str, endpoint: str, anonymous: bool) -> storage.Client:
    """A client like the driver's: same project, endpoint and kind of credentials."""
    from google.cloud import storage

    credentials = None
    if anonymous:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    return storage.Client(
        project=project, credentials=credentials, client_options={"api_endpoint": endpoint}
    )
