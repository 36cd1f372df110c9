"""Staging on a filesystem: one directory per query, files renamed into place, then synced.

Both files of a batch are written to a temporary name (``.tmp``), flushed with ``fsync`` and
renamed into place (data first, manifest last), and the directory is synced. Executors open
the data file memory-mapped, so the directory must be at the same path on every executor
(local disk in local mode, a shared ReadWriteMany volume on a cluster).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from connectors.pubsub.errors import StagingError
from connectors.pubsub.records import STAGED_SCHEMA
from connectors.pubsub.staging import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    StagedBatch,
    StagedBatchWriter,
    StagingArea,
    ack_ids_of,
    already_staged,
    batch_name,
    batch_of,
    missing_manifest,
    parse_manifest,
    read_ipc_slice,
    staged_file_errors,
    write_file_atomically,
)

log = logging.getLogger(__name__)

_TEMPORARY_SUFFIX = ".tmp"


class LocalStagingArea(StagingArea):
    """The staged batches of one query, in one directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def ensure_exists(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StagingError(
                f"staging directory {self.root} cannot be created: {error}"
            ) from error
        if not os.access(self.root, os.W_OK):
            raise StagingError(f"staging directory {self.root} is not writable by this process")

    def data_path(self, batch: int) -> Path:
        return self.root / f"{batch_name(batch)}{DATA_SUFFIX}"

    def manifest_path(self, batch: int) -> Path:
        return self.root / f"{batch_name(batch)}{MANIFEST_SUFFIX}"

    def batches(self) -> list[int]:
        if not self.root.exists():
            return []
        numbers = (batch_of(path.name, MANIFEST_SUFFIX) for path in self.root.iterdir())
        return sorted(number for number in numbers if number is not None)

    def is_staged(self, batch: int) -> bool:
        return self.manifest_path(batch).exists()

    def leftovers(self) -> list[str]:
        if not self.root.exists():
            return []
        complete = {self.data_path(batch).name for batch in self.batches()}
        return sorted(
            str(path)
            for path in self.root.iterdir()
            if path.name.endswith(
                (
                    DATA_SUFFIX,
                    DATA_SUFFIX + _TEMPORARY_SUFFIX,
                    MANIFEST_SUFFIX + _TEMPORARY_SUFFIX,
                )
            )
            and path.name not in complete
        )

    def leftover_ack_ids(self, leftover: str) -> list[str]:
        if leftover.endswith(MANIFEST_SUFFIX + _TEMPORARY_SUFFIX):
            return []
        try:
            return ack_ids_of(read_staged_file(Path(leftover), ["ack_id"]))
        except StagingError as error:
            log.warning("staging leftover unreadable path=%s error=%s", leftover, error)
            return []

    def remove_leftover(self, leftover: str) -> None:
        with suppress(FileNotFoundError):
            Path(leftover).unlink()

    def manifest(self, batch: int) -> StagedBatch:
        path = self.manifest_path(batch)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise missing_manifest(batch, str(path)) from None
        return parse_manifest(text, str(path))

    def writer(self, batch: int) -> StagedBatchWriter:
        self.ensure_exists()
        if self.manifest_path(batch).exists():
            raise already_staged(batch, str(self.manifest_path(batch)))
        return LocalBatchWriter(self, batch)

    def read_table(self, batch: int, columns: list[str] | None = None) -> pa.Table:
        """Staged messages of ``batch`` (memory-mapped: slices copy nothing)."""
        return read_staged_file(self.data_path(batch), columns)

    def read_slice(self, batch: int, first: int, count: int) -> Iterator[pa.Table]:
        return read_staged_slice(self.data_path(batch), first, count)

    def delete(self, batch: int) -> None:
        with suppress(FileNotFoundError):
            self.manifest_path(batch).unlink()
        with suppress(FileNotFoundError):
            self.data_path(batch).unlink()


def read_staged_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    with staged_file_errors(str(path)), pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def read_staged_slice(path: Path, first: int, count: int) -> Iterator[pa.Table]:
    """Messages ``first .. first + count - 1`` of a staged file, memory-mapped round by round.

    Each round is mapped, handed out and unmapped before the next (mapped pages stay counted
    in a process's resident memory while mapped).
    """
    return read_ipc_slice(lambda: pa.memory_map(str(path), "r"), str(path), first, count)


class LocalBatchWriter(StagedBatchWriter):
    """Appends pulled messages to one batch file, then renames it and its manifest into place."""

    def __init__(self, area: LocalStagingArea, batch: int) -> None:
        self.area = area
        self.batch = batch
        self.messages = 0
        self.rows = 0
        self._round_sizes: list[int] = []
        data_path = area.data_path(batch)
        self._temporary = data_path.with_name(data_path.name + _TEMPORARY_SUFFIX)
        self._sink = pa.OSFile(str(self._temporary), "wb")
        self._writer = pa.ipc.new_file(self._sink, STAGED_SCHEMA)
        self._closed = False

    def write(self, messages: pa.RecordBatch) -> None:
        if messages.num_rows == 0:
            return
        self._writer.write_batch(messages)
        self._round_sizes.append(messages.num_rows)
        self.messages += messages.num_rows
        self.rows += pc.sum(messages.column("row_count")).as_py()

    def commit(self) -> StagedBatch:
        self._writer.close()
        self._sink.close()
        self._closed = True
        data_path = self.area.data_path(self.batch)
        _fsync(self._temporary)
        os.replace(self._temporary, data_path)
        manifest = StagedBatch(
            batch=self.batch,
            messages=self.messages,
            rows=self.rows,
            data_file=data_path.name,
            created_at=time.time(),
            round_sizes=self._round_sizes,
        )
        write_file_atomically(self.area.manifest_path(self.batch), json.dumps(asdict(manifest)))
        _fsync(self.area.root)
        log.info("pubsub staged batch=%d messages=%d rows=%d", self.batch, self.messages, self.rows)
        return manifest

    def abort(self) -> None:
        if not self._closed:
            self._writer.close()
            self._sink.close()
            self._closed = True
        with suppress(FileNotFoundError):
            self._temporary.unlink()


def _fsync(path: Path) -> None:
    """fsync a file or a directory (a directory's entries: the renames into it)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
