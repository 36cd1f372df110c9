"""Durable cursor storage: a local file (atomic write + fsync) or a Cloud Storage object.

The cursor is a small JSON document::

    {"cursor": "<API next_cursor>", "last_sequence": 123, "saved_at": "2024-01-01T00:00:00Z"}

It is written only with a cursor that :class:`~producer.confirmation.ConfirmationTracker`
reports as safe, so after any crash the producer resumes at or before the first event Pub/Sub
has not confirmed.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from producer.confirmation import Cursor
from producer.errors import ConfigurationError, CursorStoreError

if TYPE_CHECKING:
    from google.cloud import storage

log = logging.getLogger(__name__)

GCS_SCHEME = "gs://"


class CursorStore(Protocol):
    """Where the producer keeps its position between runs."""

    location: str

    async def load(self) -> Cursor | None:
        """The saved cursor, or ``None`` when nothing was saved yet."""
        ...

    async def save(self, cursor: Cursor) -> None:
        """Persist ``cursor`` durably before returning."""
        ...

    def release(self) -> None:
        """Give up the cursor at the end of a run (another producer may then take it)."""
        ...


def encode_cursor(cursor: Cursor) -> bytes:
    return orjson.dumps(
        {
            "cursor": cursor.value,
            "last_sequence": cursor.last_sequence,
            "saved_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    )


def decode_cursor(data: bytes, location: str) -> Cursor:
    try:
        document: Any = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise CursorStoreError(
            f"the cursor at {location} is not JSON ({error}); restore it from a backup or "
            "delete it to start from the beginning (every event is then published again)"
        ) from error
    value = document.get("cursor") if isinstance(document, dict) else None
    sequence = document.get("last_sequence") if isinstance(document, dict) else None
    if not (value is None or isinstance(value, str)) or not isinstance(sequence, int):
        raise CursorStoreError(
            f"the cursor at {location} should be {{cursor: str|null, last_sequence: int}}, "
            f"found {document!r}; restore it or delete it to start from the beginning"
        )
    return Cursor(value, sequence)


class LocalFileCursorStore:
    """The cursor in a local file, replaced atomically, held by one producer at a time.

    ``save`` writes a temporary file in the same directory, fsyncs it, renames it over the
    cursor file and fsyncs the directory, so a crash at any point leaves either the old or the
    new cursor on disk, never a torn one. ``load`` first takes an exclusive ``flock`` on
    ``<cursor>.lock`` and keeps it for the life of the process (the kernel releases it when the
    process ends, even on ``kill -9``): a second producer on the same cursor stops at start.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_descriptor: int | None = None

    def _lock(self) -> None:
        if self._lock_descriptor is not None:
            return
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise CursorStoreError(
                f"cannot persist the cursor to {self.path}: its lock {self.lock_path} cannot "
                f"be opened ({error}); check the directory exists and is writable"
            ) from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise CursorStoreError(
                f"another producer (pid {holder}) holds the cursor {self.path} (lock "
                f"{self.lock_path}): run one producer per cursor, or give this one its own "
                "OLIST_CURSOR_LOCATION"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._lock_descriptor = descriptor

    def release(self) -> None:
        """Let another producer take the cursor (the process ending does the same)."""
        if self._lock_descriptor is not None:
            os.close(self._lock_descriptor)
            self._lock_descriptor = None

    async def load(self) -> Cursor | None:
        self._lock()
        try:
            data = await asyncio.to_thread(self.path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CursorStoreError(f"cannot read the cursor file {self.path}: {error}") from error
        return decode_cursor(data, self.location)

    async def save(self, cursor: Cursor) -> None:
        self._lock()
        # Blocking file I/O and fsync: wrapped once here so the event loop never waits on disk.
        await asyncio.to_thread(self._write, encode_cursor(cursor))

    def _write(self, data: bytes) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=directory
            )
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            directory_descriptor = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(directory_descriptor)
            finally:
                os.close(directory_descriptor)
        except OSError as error:
            raise CursorStoreError(
                f"cannot persist the cursor to {self.path}: {error}; check the directory "
                "exists, is writable and has free space"
            ) from error


class GcsCursorStore:
    """The cursor as a Cloud Storage object, written with generation preconditions.

    Every write says which generation it replaces (``if_generation_match``; 0 = must not
    exist), so two producers sharing one cursor by mistake make the second one stop with
    :class:`~producer.errors.CursorStoreError` instead of silently moving the cursor back.
    """

    def __init__(self, bucket: str, name: str, client: storage.Client) -> None:
        self.bucket = bucket
        self.name = name
        self.location = f"{GCS_SCHEME}{bucket}/{name}"
        self._blob = client.bucket(bucket).blob(name)
        self._generation: int | None = None

    async def load(self) -> Cursor | None:
        # google-cloud-storage is blocking; wrapped once here.
        return await asyncio.to_thread(self._load)

    def _load(self) -> Cursor | None:
        from google.api_core.exceptions import GoogleAPIError, NotFound

        try:
            data = self._blob.download_as_bytes()
        except NotFound:
            self._generation = 0
            return None
        except GoogleAPIError as error:
            raise CursorStoreError(
                f"cannot read the cursor {self.location}: {error}; check the bucket exists "
                "and the producer may read it"
            ) from error
        self._generation = int(self._blob.generation)
        return decode_cursor(data, self.location)

    async def save(self, cursor: Cursor) -> None:
        await asyncio.to_thread(self._save, encode_cursor(cursor))

    def release(self) -> None:
        """Nothing to release: every write is conditional on the generation this store wrote."""

    def _save(self, data: bytes) -> None:
        from google.api_core.exceptions import GoogleAPIError, PreconditionFailed

        if self._generation is None:
            raise CursorStoreError(f"load() the cursor {self.location} before saving it")
        try:
            self._blob.upload_from_string(
                data,
                content_type="application/json",
                if_generation_match=self._generation,
            )
        except PreconditionFailed as error:
            if self._is_our_write(data):
                # The client retried an upload whose first attempt had landed (its answer was
                # lost): the object holds exactly what we wrote, and it is ours.
                log.info(
                    "cursor upload retried after it had succeeded location=%s generation=%d",
                    self.location,
                    self._generation,
                )
                return
            raise CursorStoreError(
                f"the cursor {self.location} changed since generation {self._generation} was "
                "read: another producer writes the same cursor; run one producer per cursor"
            ) from error
        except GoogleAPIError as error:
            raise CursorStoreError(
                f"cannot persist the cursor to {self.location}: {error}"
            ) from error
        self._generation = int(self._blob.generation)

    def _is_our_write(self, data: bytes) -> bool:
        """Whether the object now holds ``data`` (our upload landed); adopts its generation.

        The document carries the time it was saved to the microsecond, so another producer's
        cursor never has the same bytes.
        """
        from google.api_core.exceptions import GoogleAPIError

        try:
            current = self._blob.download_as_bytes()
        except GoogleAPIError:
            return False
        if current != data:
            return False
        self._generation = int(self._blob.generation)
        return True


def open_cursor_store(location: str, storage_api_endpoint: str | None = None) -> CursorStore:
    """The store for ``location``: ``gs://bucket/object`` or a local file path."""
    if location.startswith(GCS_SCHEME):
        bucket, _, name = location[len(GCS_SCHEME) :].partition("/")
        if not bucket or not name:
            raise ConfigurationError(
                f"expected OLIST_CURSOR_LOCATION like gs://bucket/path/cursor.json, "
                f"found {location!r}"
            )
        return GcsCursorStore(bucket, name, _storage_client(storage_api_endpoint))
    if "://" in location:
        raise ConfigurationError(
            f"OLIST_CURSOR_LOCATION must be a file path or gs://bucket/object, found {location!r}"
        )
    return LocalFileCursorStore(location)


def _storage_client(endpoint: str | None) -> storage.Client:
    from google.cloud import storage

    if endpoint is None:
        return storage.Client()
    # An explicit endpoint is a local stand-in (fake-gcs-server): no credentials there.
    from google.auth.credentials import AnonymousCredentials

    return storage.Client(
        project="olist-local",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )
