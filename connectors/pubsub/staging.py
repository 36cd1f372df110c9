"""Durable staging of pulled messages: the interface, and the backend chosen by the location.

A staged batch is one Arrow IPC file of messages (see records.STAGED_SCHEMA, one record batch
per pull round) plus one manifest; under ``stagingLocation``::

    00000000000000000007.arrow   staged messages of batch 7
    00000000000000000007.json    manifest: batch number, counts, staging time, round sizes, ...

A batch exists once its manifest exists: data is written first, the manifest last, so a crash
leaves either a complete batch or leftovers (:meth:`StagingArea.leftovers`) that the reader
releases. Deletion removes the manifest first, so a half-deleted batch is also a leftover.

:func:`connectors.pubsub.staging_backends.open_staging_area` picks the backend from the
location, and the reader only sees :class:`StagingArea`:

* a filesystem path (:mod:`connectors.pubsub.staging_local`): every executor must see it at
  the same path (local disk in local mode, a shared volume on a cluster);
* ``gs://bucket/prefix`` (:mod:`connectors.pubsub.staging_gcs`): Cloud Storage objects written
  with generation preconditions, read by executors with ranged reads.

The source's counters (``stats.json``, for the job's ``/metrics``) always live on the driver's
disk: :func:`source_stats_path`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from connectors.pubsub.errors import StagingError

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
DATA_SUFFIX = ".arrow"
MANIFEST_SUFFIX = ".json"
GCS_SCHEME = "gs://"


def is_object_store_location(location: str) -> bool:
    """Whether option ``stagingLocation`` names Cloud Storage (``gs://bucket/prefix``)."""
    return location.startswith(GCS_SCHEME)


def source_stats_path(staging_location: str | os.PathLike[str]) -> Path:
    """The source's counters for option ``stagingLocation`` (JSON, replaced atomically).

    The source runs in its own process on the driver; the streaming job reads this file to
    report how many messages were acknowledged (``/metrics``). With a filesystem location it
    is ``<location>/stats.json``; with ``gs://`` it is a file under the driver's temporary
    directory named after the location (both processes run on the driver host).
    """
    location = os.fspath(staging_location)
    if is_object_store_location(location):
        digest = hashlib.sha256(location.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "olist-pubsub-stats" / digest / "stats.json"
    return Path(location) / "stats.json"


def batch_name(batch: int) -> str:
    return f"{batch:020d}"


def batch_of(name: str, suffix: str) -> int | None:
    """The batch number of a staged file or object name, or None for anything else."""
    stem = name.removesuffix(suffix)
    return int(stem) if stem != name and stem.isdigit() else None


@dataclass(frozen=True)
class StagedBatch:
    """Manifest of one staged batch.

    ``created_at`` is when the batch was staged (the driver's clock, seconds since the epoch),
    the ``staged_time`` of its rows. ``round_sizes`` are the messages of each record batch
    (pull round) of the data file, so a reader finds its slice without reading the other
    rounds; ``data_generation`` and ``data_size`` pin the data object a manifest on Cloud
    Storage vouches for (None on a filesystem).
    """

    batch: int
    messages: int
    rows: int
    data_file: str
    created_at: float
    format: int = MANIFEST_FORMAT
    round_sizes: list[int] | None = None
    data_generation: int | None = None
    data_size: int | None = None

    @property
    def staged_time_micros(self) -> int:
        """``created_at`` in microseconds: column ``staged_time`` of the batch's rows.

        Every manifest has carried ``created_at`` since format 1, so a batch staged by an
        earlier version of the connector is replayed with a staged time too.
        """
        return round(self.created_at * 1_000_000)


def parse_manifest(text: str | bytes, where: str) -> StagedBatch:
    fields = json.loads(text)
    if fields.get("format") != MANIFEST_FORMAT:
        raise StagingError(
            f"manifest {where} has format {fields.get('format')!r}, "
            f"this connector reads format {MANIFEST_FORMAT}"
        )
    return StagedBatch(**fields)


def missing_manifest(batch: int, where: str) -> StagingError:
    return StagingError(
        f"staged batch {batch} has no manifest at {where}: the staging location was "
        "changed or cleaned while the checkpoint still refers to it; restore it or "
        "start the query with a new checkpoint"
    )


def already_staged(batch: int, where: str) -> StagingError:
    return StagingError(
        f"batch {batch} is already staged at {where}; "
        "two queries share this stagingLocation? give each query its own"
    )


class StagedBatchWriter(ABC):
    """Appends pulled messages to one batch, then publishes it (data first, manifest last)."""

    batch: int
    messages: int
    rows: int

    @abstractmethod
    def write(self, messages: pa.RecordBatch) -> None:
        """Append one pull round (an empty one is skipped)."""

    @abstractmethod
    def commit(self) -> StagedBatch:
        """Make the batch durable and visible; returns its manifest."""

    @abstractmethod
    def abort(self) -> None:
        """Drop what was written; the batch never becomes visible."""


class StagingArea(ABC):
    """The staged batches of one query (see the module docstring); pickled to executors."""

    location: str

    @abstractmethod
    def ensure_exists(self) -> None:
        """Create the location if needed; a clear :class:`StagingError` if it is unusable."""

    @abstractmethod
    def batches(self) -> list[int]:
        """Numbers of the complete staged batches, ascending."""

    @abstractmethod
    def is_staged(self, batch: int) -> bool:
        """Whether ``batch`` is complete (its manifest exists)."""

    @abstractmethod
    def manifest(self, batch: int) -> StagedBatch:
        """The manifest of ``batch``; :class:`StagingError` when it has none."""

    @abstractmethod
    def writer(self, batch: int) -> StagedBatchWriter:
        """Start staging ``batch``; it stays invisible until :meth:`StagedBatchWriter.commit`."""

    @abstractmethod
    def read_table(self, batch: int, columns: list[str] | None = None) -> pa.Table:
        """The staged messages of ``batch`` (only ``columns`` when given)."""

    @abstractmethod
    def read_slice(self, batch: int, first: int, count: int) -> Iterator[pa.Table]:
        """Executor: messages ``first .. first + count - 1`` of ``batch``, one round at a time."""

    @abstractmethod
    def delete(self, batch: int) -> None:
        """Remove a staged batch, manifest first; removing one already gone does nothing."""

    @abstractmethod
    def leftovers(self) -> list[str]:
        """Names of files/objects of batches that never completed: release, then remove."""

    @abstractmethod
    def leftover_ack_ids(self, leftover: str) -> list[str]:
        """Ack ids in a leftover, or none when it holds no messages or was cut short."""

    @abstractmethod
    def remove_leftover(self, leftover: str) -> None:
        """Remove a leftover reported by :meth:`leftovers`."""

    def ack_ids(self, batch: int) -> list[str]:
        return ack_ids_of(self.read_table(batch, ["ack_id"]))

    def row_counts(self, batch: int) -> pa.ChunkedArray[Any]:
        """Rows of each message of ``batch`` (for partition planning)."""
        return self.read_table(batch, ["row_count"]).column("row_count")

    # The counters live on the driver's disk whatever the backend (source_stats_path).
    @property
    def stats_path(self) -> Path:
        """Counters of the source (:func:`source_stats_path`), read by the job's ``/metrics``."""
        return source_stats_path(self.location)

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
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(self.stats_path, json.dumps(stats, sort_keys=True))


def ack_ids_of(table: pa.Table) -> list[str]:
    # A non-nullable column (STAGED_SCHEMA): no None among its values.
    return cast("list[str]", table.column("ack_id").to_pylist())


@contextmanager
def staged_file_errors(where: str) -> Iterator[None]:
    """Turn a missing or unreadable staged file into a :class:`StagingError` saying why."""
    try:
        yield
    except FileNotFoundError:
        raise StagingError(
            f"staged file {where} is missing: the staging location was changed or cleaned "
            "while the checkpoint still refers to it; restore it or start with a new checkpoint"
        ) from None
    except pa.ArrowInvalid as error:
        raise StagingError(f"staged file {where} is not a readable Arrow file: {error}") from error


def read_ipc_slice(
    open_source: Callable[[], pa.NativeFile],
    where: str,
    first: int,
    count: int,
    round_sizes: list[int] | None = None,
    *,
    reopen_per_round: bool = True,
) -> Iterator[pa.Table]:
    """Messages ``first .. first + count - 1`` of an Arrow IPC file, one round at a time.

    Each round (record batch) is read, handed out and released before the next, so a reader
    holds one round of payloads in memory. Rounds outside the slice are never read: their
    sizes come from ``round_sizes`` (the manifest), or from the batches' headers. A memory
    map is opened again for each round (its pages are let go between rounds);
    ``reopen_per_round=False`` keeps one reader for the slice, for a remote file whose
    footer costs requests to read (each round is still its own buffer, released in turn).
    """
    if round_sizes is None:
        with staged_file_errors(where), open_source() as source:
            reader = pa.ipc.open_file(source)
            # On a memory-mapped file, reading a batch's header touches no data page.
            round_sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
    wanted = []
    offset = 0
    for index, size in enumerate(round_sizes):
        low, high = max(first, offset), min(first + count, offset + size)
        if low < high:
            wanted.append((index, low - offset, high - low))
        offset += size
    if offset < first + count:
        raise StagingError(
            f"staged file {where} holds {offset} messages, the plan reads up to {first + count}"
        )
    if reopen_per_round:
        for index, start, length in wanted:
            with staged_file_errors(where), open_source() as source:
                batch = pa.ipc.open_file(source).get_batch(index)
                yield pa.Table.from_batches([batch.slice(start, length)])
        return
    with staged_file_errors(where), open_source() as source:
        reader = pa.ipc.open_file(source)
        for index, start, length in wanted:
            batch = reader.get_batch(index)
            yield pa.Table.from_batches([batch.slice(start, length)])


def write_file_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name, fsync it, then rename it over ``path``."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
