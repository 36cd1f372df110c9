"""Staging on Cloud Storage (``stagingLocation=gs://bucket/prefix``): for executors on other hosts.

The driver spools a batch's Arrow IPC file to its local temporary directory, one pull round
at a time, then uploads it as ``<prefix>/<batch>.arrow`` and, last, the manifest
``<prefix>/<batch>.json`` naming the data object's generation. Both uploads carry the
precondition ``ifGenerationMatch=0`` (create, never replace): a second writer fails with a
:class:`StagingError`, and a retried upload whose first attempt did land finds its own bytes
(same MD5) and goes on. Executors read the data object of the manifest's generation with
ranged reads: the file's footer, then only the record batches of their slice.

Every request has a timeout and is retried with exponential back-off (the client library's
retryable errors: timeouts, connection resets, 429 and 5xx) for ``retry_seconds`` in all; an
exhausted retry is a :class:`StagingError` that fails the micro-batch, and nothing is
acknowledged, so Pub/Sub redelivers the messages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from connectors.pubsub.errors import StagingError
from connectors.pubsub.records import STAGED_SCHEMA
from connectors.pubsub.staging import (
    DATA_SUFFIX,
    GCS_SCHEME,
    MANIFEST_SUFFIX,
    StagedBatch,
    StagedBatchWriter,
    StagingArea,
    already_staged,
    batch_name,
    batch_of,
    missing_manifest,
    parse_manifest,
    read_ipc_slice,
)

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import storage

log = logging.getLogger(__name__)

_WRITE_CHECK_OBJECT = "_write_check"
_T = TypeVar("_T")


def split_location(location: str) -> tuple[str, str]:
    """``gs://bucket/prefix`` -> (``bucket``, ``prefix``) without trailing slash."""
    bucket, _, prefix = location.removeprefix(GCS_SCHEME).partition("/")
    return bucket, prefix.strip("/")


class GcsStagingArea(StagingArea):
    """The staged batches of one query, as objects under ``gs://bucket/prefix/``."""

    def __init__(
        self,
        location: str,
        *,
        endpoint: str | None = None,
        timeout_seconds: float = 60.0,
        retry_seconds: float = 300.0,
    ) -> None:
        self.location = location.rstrip("/")
        self.bucket_name, self.prefix = split_location(self.location)
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self.retry_seconds = retry_seconds
        self._init_client_state()

    def _init_client_state(self) -> None:
        self._client: storage.Client | None = None
        # Row counts of the batches this process staged: partitions() then reads nothing back.
        self._row_counts: dict[int, pa.ChunkedArray[Any]] = {}

    # Executors get the location and settings, never the driver's client or cache.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "endpoint": self.endpoint,
            "timeout_seconds": self.timeout_seconds,
            "retry_seconds": self.retry_seconds,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["location"],
            endpoint=state["endpoint"],
            timeout_seconds=state["timeout_seconds"],
            retry_seconds=state["retry_seconds"],
        )

    # ----------------------------------------------------------------- plumbing
    @property
    def client(self) -> storage.Client:
        if self._client is None:
            from google.cloud import storage

            if self.endpoint:
                from google.auth.credentials import AnonymousCredentials

                self._client = storage.Client(
                    project="<none>",
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": self.endpoint},
                )
            else:
                self._client = storage.Client()
        return self._client

    @property
    def retry(self) -> Retry:
        """The client's retry policy, bounded by ``retry_seconds``, back-off from 0.25 s."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_delay(initial=0.25, maximum=8.0, multiplier=2.0).with_timeout(
            self.retry_seconds
        )

    def object_name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def blob(self, name: str, generation: int | None = None) -> storage.Blob:
        blob: storage.Blob = self.client.bucket(self.bucket_name).blob(
            self.object_name(name), generation=generation
        )
        return blob

    def data_name(self, batch: int) -> str:
        return f"{batch_name(batch)}{DATA_SUFFIX}"

    def manifest_name(self, batch: int) -> str:
        return f"{batch_name(batch)}{MANIFEST_SUFFIX}"

    def url(self, name: str) -> str:
        return f"{GCS_SCHEME}{self.bucket_name}/{self.object_name(name)}"

    def call(self, what: str, action: Callable[[], _T]) -> _T:
        """Run one request; turn the errors a user can act on into a :class:`StagingError`."""
        from google.api_core import exceptions

        try:
            return action()
        except exceptions.Forbidden as error:
            raise StagingError(
                f"{what}: Cloud Storage refused access to bucket {self.bucket_name!r} "
                f"({error.message}); the driver's and executors' credentials need "
                "storage.objects.create/get/list/delete on it (roles/storage.objectAdmin)"
            ) from error
        except exceptions.RetryError as error:
            raise StagingError(
                f"{what}: Cloud Storage did not answer within {self.retry_seconds:g} s of "
                f"retries (each request times out after {self.timeout_seconds:g} s): "
                f"{error.cause!r}"
            ) from error
        except (exceptions.TooManyRequests, exceptions.ServerError, OSError) as error:
            raise StagingError(f"{what}: Cloud Storage request failed: {error!r}") from error

    def _names(self) -> list[str]:
        prefix = f"{self.prefix}/" if self.prefix else ""
        blobs = self.call(
            f"listing {self.location}",
            lambda: list(
                self.client.list_blobs(
                    self.bucket_name,
                    prefix=prefix,
                    delimiter="/",
                    timeout=self.timeout_seconds,
                    retry=self.retry,
                )
            ),
        )
        return [blob.name.removeprefix(prefix) for blob in blobs]

    def download(self, name: str, generation: int | None = None, **ranged: int) -> bytes:
        """The bytes of object ``name`` (``start``/``end`` inclusive for a range)."""
        blob = self.blob(name, generation)
        data: bytes = self.call(
            f"reading {self.url(name)}",
            lambda: blob.download_as_bytes(
                timeout=self.timeout_seconds,
                retry=self.retry,
                checksum=None if ranged else "auto",
                **ranged,
            ),
        )
        return data

    def upload_new(self, name: str, write: Callable[[storage.Blob], None], md5: str) -> int:
        """Create object ``name`` (``ifGenerationMatch=0``); returns its generation.

        When the object already exists with the same MD5, an earlier attempt of this very
        upload landed (a retry after a lost answer): its generation is returned. Any other
        existing object raises :class:`StagingError`, it is never replaced.
        """
        from google.api_core import exceptions

        blob = self.blob(name)
        try:
            self.call(f"writing {self.url(name)}", lambda: write(blob))
        except StagingError as error:
            if not isinstance(error.__cause__, exceptions.NotFound):
                raise
            raise self.bucket_missing() from error.__cause__
        except exceptions.PreconditionFailed:
            existing = self.blob(name)
            self.call(
                f"reading {self.url(name)}",
                lambda: existing.reload(timeout=self.timeout_seconds, retry=self.retry),
            )
            if existing.md5_hash != md5:
                raise StagingError(
                    f"{self.url(name)} already exists with other content (generation "
                    f"{existing.generation}): another writer stages into this location; "
                    "give each query its own stagingLocation. Nothing was replaced."
                ) from None
            log.info("staging upload had landed before its retry object=%s", self.url(name))
            assert existing.generation is not None
            return int(existing.generation)
        except exceptions.NotFound as error:
            raise self.bucket_missing() from error
        assert blob.generation is not None
        return int(blob.generation)

    def bucket_missing(self) -> StagingError:
        return StagingError(
            f"stagingLocation {self.location}: bucket {self.bucket_name!r} does not exist "
            "(or these credentials cannot see it); create it in the job's project, e.g. "
            f"gcloud storage buckets create gs://{self.bucket_name}"
        )

    # ----------------------------------------------------------------- the interface
    def ensure_exists(self) -> None:
        """Check that the bucket exists and takes (and gives back) an object."""
        bucket = self.client.bucket(self.bucket_name)
        exists = self.call(
            f"checking {self.location}",
            lambda: bucket.exists(timeout=self.timeout_seconds, retry=self.retry),
        )
        if not exists:
            raise self.bucket_missing()
        probe = self.blob(_WRITE_CHECK_OBJECT)
        self.call(
            f"writing {self.url(_WRITE_CHECK_OBJECT)}",
            lambda: probe.upload_from_string(b"", timeout=self.timeout_seconds, retry=self.retry),
        )
        self._delete_quietly(_WRITE_CHECK_OBJECT)

    def batches(self) -> list[int]:
        numbers = (batch_of(name, MANIFEST_SUFFIX) for name in self._names())
        return sorted(number for number in numbers if number is not None)

    def is_staged(self, batch: int) -> bool:
        blob = self.blob(self.manifest_name(batch))
        staged: bool = self.call(
            f"checking {self.url(self.manifest_name(batch))}",
            lambda: blob.exists(timeout=self.timeout_seconds, retry=self.retry),
        )
        return staged

    def manifest(self, batch: int) -> StagedBatch:
        from google.api_core import exceptions

        name = self.manifest_name(batch)
        try:
            text = self.download(name)
        except StagingError as error:
            if isinstance(error.__cause__, exceptions.NotFound):
                raise missing_manifest(batch, self.url(name)) from None
            raise
        except exceptions.NotFound:
            raise missing_manifest(batch, self.url(name)) from None
        return parse_manifest(text, self.url(name))

    def writer(self, batch: int) -> StagedBatchWriter:
        if self.is_staged(batch):
            raise already_staged(batch, self.url(self.manifest_name(batch)))
        return GcsBatchWriter(self, batch)

    def read_table(self, batch: int, columns: list[str] | None = None) -> pa.Table:
        manifest = self.manifest(batch)
        with self._data_file(manifest) as source:
            options = None
            if columns is not None:
                options = pa.ipc.IpcReadOptions(
                    included_fields=[STAGED_SCHEMA.get_field_index(name) for name in columns]
                )
            table = pa.ipc.open_file(source, options=options).read_all()
        return table.select(columns) if columns is not None else table

    def row_counts(self, batch: int) -> pa.ChunkedArray[Any]:
        cached = self._row_counts.get(batch)
        return cached if cached is not None else super().row_counts(batch)

    def read_slice(self, batch: int, first: int, count: int) -> Iterator[pa.Table]:
        manifest = self.manifest(batch)
        return read_ipc_slice(
            lambda: pa.PythonFile(self._ranged(manifest), mode="r"),
            self.url(manifest.data_file),
            first,
            count,
            manifest.round_sizes,
            reopen_per_round=False,  # one footer read per slice, not one per round
        )

    def delete(self, batch: int) -> None:
        self._delete_quietly(self.manifest_name(batch))
        self._delete_quietly(self.data_name(batch))
        self._row_counts.pop(batch, None)

    def leftovers(self) -> list[str]:
        names = self._names()
        complete = {self.data_name(batch) for batch in self.batches()}
        return sorted(
            name
            for name in names
            if batch_of(name, DATA_SUFFIX) is not None and name not in complete
        )

    def leftover_ack_ids(self, leftover: str) -> list[str]:
        try:
            data = self.download(leftover)
            with pa.BufferReader(data) as source:
                table = pa.ipc.open_file(source).read_all()
        except (StagingError, pa.ArrowInvalid) as error:
            log.warning("staging leftover unreadable object=%s error=%s", leftover, error)
            return []
        from connectors.pubsub.staging import ack_ids_of

        return ack_ids_of(table)

    def remove_leftover(self, leftover: str) -> None:
        self._delete_quietly(leftover)

    # ----------------------------------------------------------------- internals
    def _delete_quietly(self, name: str) -> None:
        from google.api_core import exceptions

        blob = self.blob(name)
        with suppress(exceptions.NotFound):
            self.call(
                f"deleting {self.url(name)}",
                lambda: blob.delete(timeout=self.timeout_seconds, retry=self.retry),
            )

    def _ranged(self, manifest: StagedBatch) -> RangedObjectReader:
        if manifest.data_generation is None or manifest.data_size is None:
            raise StagingError(
                f"manifest of batch {manifest.batch} in {self.location} names no data "
                "generation: it was not written by this connector's Cloud Storage staging"
            )
        return RangedObjectReader(
            self, manifest.data_file, manifest.data_generation, manifest.data_size
        )

    @contextmanager
    def _data_file(self, manifest: StagedBatch) -> Iterator[pa.NativeFile]:
        with pa.PythonFile(self._ranged(manifest), mode="r") as source:
            yield source

    def remember_row_counts(self, batch: int, row_counts: pa.ChunkedArray[Any]) -> None:
        self._row_counts[batch] = row_counts


class RangedObjectReader(io.RawIOBase):
    """A read-only, seekable file over one object generation: every read is a ranged GET.

    Arrow's IPC reader reads the footer, then each record batch it is asked for in one
    piece, so a slice costs a few requests and never the whole object.
    """

    def __init__(self, area: GcsStagingArea, name: str, generation: int, size: int) -> None:
        super().__init__()
        self.area = area
        self.name = name
        self.generation = generation
        self.size = size
        self.position = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        if end <= self.position:
            return b""
        data = self._get(self.position, end - 1)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _get(self, start: int, end: int) -> bytes:
        from google.api_core import exceptions

        self.requests += 1
        try:
            return self.area.download(self.name, self.generation, start=start, end=end)
        except StagingError as error:
            if isinstance(error.__cause__, exceptions.NotFound):
                raise StagingError(
                    f"staged object {self.area.url(self.name)} generation {self.generation} "
                    "is missing: the staging location was changed or cleaned while the "
                    "checkpoint still refers to it; restore it or start with a new checkpoint"
                ) from None
            raise
        except exceptions.NotFound:
            raise StagingError(
                f"staged object {self.area.url(self.name)} generation {self.generation} "
                "is missing: the staging location was changed or cleaned while the "
                "checkpoint still refers to it; restore it or start with a new checkpoint"
            ) from None


class GcsBatchWriter(StagedBatchWriter):
    """Spools one batch to a local temporary file, then uploads data, then manifest."""

    def __init__(self, area: GcsStagingArea, batch: int) -> None:
        self.area = area
        self.batch = batch
        self.messages = 0
        self.rows = 0
        self._round_sizes: list[int] = []
        self._row_counts: list[pa.Array[Any]] = []
        handle, self._spool = tempfile.mkstemp(prefix=f"pubsub-staging-{batch}-", suffix=".arrow")
        os.close(handle)
        self._sink = pa.OSFile(self._spool, "wb")
        self._writer = pa.ipc.new_file(self._sink, STAGED_SCHEMA)
        self._closed = False

    def write(self, messages: pa.RecordBatch) -> None:
        if messages.num_rows == 0:
            return
        self._writer.write_batch(messages)
        self._round_sizes.append(messages.num_rows)
        self._row_counts.append(messages.column("row_count"))
        self.messages += messages.num_rows
        self.rows += pc.sum(messages.column("row_count")).as_py()

    def commit(self) -> StagedBatch:
        area = self.area
        self._close()
        try:
            data_name = area.data_name(self.batch)
            md5 = _md5_of_file(self._spool)
            generation = area.upload_new(
                data_name,
                lambda blob: blob.upload_from_filename(
                    self._spool,
                    if_generation_match=0,
                    timeout=area.timeout_seconds,
                    retry=area.retry,
                ),
                md5,
            )
            manifest = StagedBatch(
                batch=self.batch,
                messages=self.messages,
                rows=self.rows,
                data_file=data_name,
                created_at=time.time(),
                round_sizes=self._round_sizes,
                data_generation=generation,
                data_size=os.path.getsize(self._spool),
            )
            text = json.dumps(asdict(manifest)).encode()
            area.upload_new(
                area.manifest_name(self.batch),
                lambda blob: blob.upload_from_string(
                    text,
                    content_type="application/json",
                    if_generation_match=0,
                    timeout=area.timeout_seconds,
                    retry=area.retry,
                ),
                _md5(text),
            )
        finally:
            _remove(self._spool)
        area.remember_row_counts(self.batch, pa.chunked_array(self._row_counts, pa.int32()))
        log.info(
            "pubsub staged batch=%d messages=%d rows=%d object=%s generation=%d",
            self.batch,
            self.messages,
            self.rows,
            area.url(data_name),
            generation,
        )
        return manifest

    def abort(self) -> None:
        self._close()
        _remove(self._spool)

    def _close(self) -> None:
        if not self._closed:
            self._writer.close()
            self._sink.close()
            self._closed = True


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _md5_of_file(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _remove(path: str) -> None:
    with suppress(FileNotFoundError):
        os.remove(path)
