"""Durable staging of pulled messages: one Arrow IPC file plus one manifest per batch.

Layout under ``stagingLocation``::

    00000000000000000007.arrow   staged messages of batch 7 (see records.STAGED_SCHEMA)
    00000000000000000007.json    manifest: batch number, message and row counts
    stats.json                   the source's counters (source_stats_path), for the job's /metrics

A batch exists once its manifest exists. Both files are written to a temporary name,
flushed with ``fsync`` and renamed into place (data first, manifest last), and the directory
is synced, so a crash leaves either a complete batch or leftovers that
:meth:`StagingArea.leftovers` reports for release. Deletion removes the manifest first, so a
half-deleted batch is also a leftover, never a batch with missing data.

Staged files are read by executors (``read()``), so the location must be a filesystem every
executor sees at the same path (local disk in local mode, a shared mount on a cluster).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

from connectors.pubsub.errors import StagingError
from connectors.pubsub.records import STAGED_SCHEMA

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
_DATA_SUFFIX = ".arrow"
_MANIFEST_SUFFIX = ".json"
_TEMPORARY_SUFFIX = ".tmp"


def source_stats_path(staging_location: str | os.PathLike[str]) -> Path:
    """The source's counters under option ``stagingLocation`` (JSON, replaced atomically).

    The source runs in its own process on the driver; the streaming job reads this file to
    report how many messages were acknowledged (``/metrics``).
    """
    return Path(staging_location) / "stats.json"


@dataclass(frozen=True)
class StagedBatch:
    """Manifest of one staged batch."""

    batch: int
    messages: int
    rows: int
    data_file: str
    created_at: float
    format: int = MANIFEST_FORMAT


class StagingArea:
    """The staged batches of one query, in one directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def ensure_exists(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def data_path(self, batch: int) -> Path:
        return self.root / f"{batch:020d}{_DATA_SUFFIX}"

    def manifest_path(self, batch: int) -> Path:
        return self.root / f"{batch:020d}{_MANIFEST_SUFFIX}"

    def batches(self) -> list[int]:
        """Numbers of the complete staged batches, ascending."""
        if not self.root.exists():
            return []
        return sorted(
            int(path.name.removesuffix(_MANIFEST_SUFFIX))
            for path in self.root.iterdir()
            if path.name.endswith(_MANIFEST_SUFFIX) and path.name[:-5].isdigit()
        )

    def leftovers(self) -> list[Path]:
        """Files of batches that never completed (or were half deleted): to release, then remove."""
        if not self.root.exists():
            return []
        complete = {self.data_path(batch).name for batch in self.batches()}
        return sorted(
            path
            for path in self.root.iterdir()
            if path.name.endswith(
                (
                    _DATA_SUFFIX,
                    _DATA_SUFFIX + _TEMPORARY_SUFFIX,
                    _MANIFEST_SUFFIX + _TEMPORARY_SUFFIX,
                )
            )
            and path.name not in complete
        )

    @property
    def stats_path(self) -> Path:
        """Counters of the source (:func:`source_stats_path`), read by the job's ``/metrics``."""
        return source_stats_path(self.root)

    def read_stats(self) -> dict[str, int]:
        """The counters written by :meth:`write_stats`, or empty ones."""
        try:
            return {
                key: int(value) for key, value in json.loads(self.stats_path.read_text()).items()
            }
        except FileNotFoundError:
            return {}

    def write_stats(self, stats: dict[str, int]) -> None:
        """Replace the counters atomically (a reader never sees a half-written file)."""
        _write_atomically(self.stats_path, json.dumps(stats, sort_keys=True))

    def manifest(self, batch: int) -> StagedBatch:
        path = self.manifest_path(batch)
        try:
            fields = json.loads(path.read_text())
        except FileNotFoundError:
            raise StagingError(
                f"staged batch {batch} has no manifest at {path}: the staging location was "
                "changed or cleaned while the checkpoint still refers to it; restore it or "
                "start the query with a new checkpoint"
            ) from None
        if fields.get("format") != MANIFEST_FORMAT:
            raise StagingError(
                f"manifest {path} has format {fields.get('format')!r}, "
                f"this connector reads format {MANIFEST_FORMAT}"
            )
        return StagedBatch(**fields)

    def writer(self, batch: int) -> StagedBatchWriter:
        """Start staging ``batch``; it stays invisible until :meth:`StagedBatchWriter.commit`."""
        self.ensure_exists()
        if self.manifest_path(batch).exists():
            raise StagingError(
                f"batch {batch} is already staged at {self.manifest_path(batch)}; "
                "two queries share this stagingLocation? give each query its own"
            )
        return StagedBatchWriter(self, batch)

    def read_table(self, batch: int, columns: list[str] | None = None) -> pa.Table:
        """Staged messages of ``batch`` (memory-mapped: slices copy nothing)."""
        path = self.data_path(batch)
        return read_staged_file(path, columns)

    def ack_ids(self, batch: int) -> list[str]:
        return _ack_ids(self.read_table(batch, ["ack_id"]))

    def delete(self, batch: int) -> None:
        """Remove a staged batch; removing one that is already gone does nothing."""
        with suppress(FileNotFoundError):
            self.manifest_path(batch).unlink()
        with suppress(FileNotFoundError):
            self.data_path(batch).unlink()


@contextmanager
def _staged_file_errors(path: Path) -> Iterator[None]:
    """Turn a missing or unreadable staged file into a :class:`StagingError` saying why."""
    try:
        yield
    except FileNotFoundError:
        raise StagingError(
            f"staged file {path} is missing: the staging location was changed or cleaned "
            "while the checkpoint still refers to it; restore it or start with a new checkpoint"
        ) from None
    except pa.ArrowInvalid as error:
        raise StagingError(f"staged file {path} is not a readable Arrow file: {error}") from error


def read_staged_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    with _staged_file_errors(path), pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def _ack_ids(table: pa.Table) -> list[str]:
    # A non-nullable column (STAGED_SCHEMA): no None among its values.
    return cast("list[str]", table.column("ack_id").to_pylist())


def read_staged_slice(path: Path, first: int, count: int) -> Iterator[pa.Table]:
    """Messages ``first .. first + count - 1`` of a staged file, one written round at a time.

    Each round (record batch) is mapped, handed out and unmapped before the next, so a
    reader holds one round of payloads in memory, not the whole slice (memory-mapped pages
    stay counted in a process's resident memory while mapped).
    """
    with _staged_file_errors(path), pa.memory_map(str(path), "r") as source:
        reader = pa.ipc.open_file(source)
        # Reading a batch's header touches no data page.
        sizes = [reader.get_batch(index).num_rows for index in range(reader.num_record_batches)]
    offset = 0
    for index, size in enumerate(sizes):
        low, high = max(first, offset), min(first + count, offset + size)
        if low < high:
            with pa.memory_map(str(path), "r") as source:
                batch = pa.ipc.open_file(source).get_batch(index)
                yield pa.Table.from_batches([batch.slice(low - offset, high - low)])
        offset += size
    if offset < first + count:
        raise StagingError(
            f"staged file {path} holds {offset} messages, the plan reads up to {first + count}"
        )


def read_ack_ids_of_leftover(path: Path) -> list[str]:
    """Ack ids in a leftover file, or none when it holds no messages or was cut short."""
    if path.name.endswith(_MANIFEST_SUFFIX + _TEMPORARY_SUFFIX):
        return []
    try:
        return _ack_ids(read_staged_file(path, ["ack_id"]))
    except StagingError as error:
        log.warning("staging leftover unreadable path=%s error=%s", path, error)
        return []


class StagedBatchWriter:
    """Appends pulled messages to one batch file, then publishes it with its manifest."""

    def __init__(self, area: StagingArea, batch: int) -> None:
        self.area = area
        self.batch = batch
        self.messages = 0
        self.rows = 0
        self._temporary = area.data_path(batch).with_name(
            area.data_path(batch).name + _TEMPORARY_SUFFIX
        )
        self._sink = pa.OSFile(str(self._temporary), "wb")
        self._writer = pa.ipc.new_file(self._sink, STAGED_SCHEMA)
        self._closed = False

    def write(self, messages: pa.RecordBatch) -> None:
        if messages.num_rows == 0:
            return
        self._writer.write_batch(messages)
        self.messages += messages.num_rows
        self.rows += pc.sum(messages.column("row_count")).as_py()

    def commit(self) -> StagedBatch:
        """Make the batch durable and visible; returns its manifest."""
        self._writer.close()
        self._sink.close()
        self._closed = True
        data_path = self.area.data_path(self.batch)
        _fsync_file(self._temporary)
        os.replace(self._temporary, data_path)
        manifest = StagedBatch(
            batch=self.batch,
            messages=self.messages,
            rows=self.rows,
            data_file=data_path.name,
            created_at=time.time(),
        )
        _write_atomically(self.area.manifest_path(self.batch), json.dumps(asdict(manifest)))
        _fsync_directory(self.area.root)
        log.info("pubsub staged batch=%d messages=%d rows=%d", self.batch, self.messages, self.rows)
        return manifest

    def abort(self) -> None:
        if not self._closed:
            self._writer.close()
            self._sink.close()
            self._closed = True
        with suppress(FileNotFoundError):
            self._temporary.unlink()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + _TEMPORARY_SUFFIX)
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
