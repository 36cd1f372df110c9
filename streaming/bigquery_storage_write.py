"""A batch's rows into BigQuery through the Storage Write API, committed exactly once.

``OLIST_BIGQUERY_WRITE_METHOD=storage_write`` replaces the batch's *load jobs* (bounded by
1,500 per table per day) with Storage Write API appends, for both tables a batch writes: the
valid events (then merged by the same script as with loads, :mod:`streaming.event_sink`) and
the rejected rows (then appended to the rejected table by one query job). No load job runs.
Per micro-batch and per table (:class:`PendingStreamStaging`):

1. **driver, before the tasks** (:meth:`PendingStreamStaging.before_tasks`): if the batch's
   merge (or insert) job already succeeded, nothing is appended again. Otherwise the batch's
   own staging table is created (the same name a load would use). If it existed and holds
   rows, an earlier attempt of the same batch id committed them (killed between the commit and
   the merge): the tasks get no target and append nothing. Else a :class:`StorageWriteTarget`
   naming it travels, pickled, to the tasks;
2. **each Spark task** (:class:`PendingStreamWriter`, inside the lake's ``mapInArrow``): on its
   first row for a table it opens one PENDING stream on that staging table, appends its rows
   as Arrow record batches (the Arrow schema derived from ``schemas/``, as the Parquet files
   are), each request under BigQuery's 10 MB and at an explicit offset, then finalizes the
   stream and reports its name and row count with the lake objects. Rows of a PENDING stream
   stay invisible until committed; a failed or killed attempt's streams are never committed;
3. **driver, after the tasks** (:meth:`PendingStreamStaging.after_tasks`): the streams the
   batch's tasks reported are committed together by one ``BatchCommitWriteStreams`` (atomic:
   all of them or none). Nothing but that one commit ever writes to a batch's staging table,
   so a non-empty table *is* the record that the batch was committed (step 1 reads it). The
   committed stream names are logged;
4. the staged rows are applied by a query job run once per id (the events' merge, the
   rejected rows' ``INSERT``), and the staging table is dropped.

Where the rows come from: the tasks already hold every row as Arrow to write the lake's
Parquet; appending the same record batches there keeps rows off the driver and needs no
second read of the lake.

Against an emulator the client reaches ``OLIST_BIGQUERY_STORAGE_API_ENDPOINT`` (``host:port``,
plaintext gRPC, anonymous credentials); unset, Google's endpoint with Application Default
Credentials.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pyarrow as pa

from streaming.bigquery_jobs import JobOutcome
from streaming.bigquery_loader import BigQueryTable, job_id_part
from streaming.event_sink import IdempotentEventSink, SinkOutcome, finished_batch_job

if TYPE_CHECKING:
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 9 * 2**20
"""Arrow bytes per AppendRows request at most: BigQuery refuses requests over 10 MB; the rest
is room for the request's own framing."""

MAX_APPENDS_IN_FLIGHT = 8
"""Requests sent and not yet acknowledged per stream: bounds a task's memory, keeps the
connection busy."""

STAGING_TABLE_LIFETIME = dt.timedelta(days=2)
"""A staging table expires on its own if its batch is never merged (an abandoned checkpoint)."""


class StorageWriteError(RuntimeError):
    """An append or a commit failed; the batch fails before its commit and is replayed."""


def write_client(api_endpoint: str | None) -> BigQueryWriteClient:
    """A Storage Write API client: Google with ADC, or ``host:port`` in plaintext, anonymous."""
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

    if not api_endpoint:
        return BigQueryWriteClient()  # type: ignore[no-untyped-call]  # gapic: untyped __init__
    import grpc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
        BigQueryWriteGrpcTransport,
    )

    # An emulator speaks plaintext gRPC; the transport would otherwise open a TLS channel.
    channel = grpc.insecure_channel(api_endpoint)
    transport = BigQueryWriteGrpcTransport(channel=channel, credentials=AnonymousCredentials())
    return BigQueryWriteClient(transport=transport)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class StreamReport:
    """What one task's finalized PENDING stream holds."""

    name: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class StorageWriteTarget:
    """The staging table a batch's tasks append to. Pickled to the executors: no client inside."""

    table_path: str
    """``projects/P/datasets/D/tables/T``."""
    schema: pa.Schema
    api_endpoint: str | None = None
    request_timeout_seconds: float = 60.0

    def open_writer(self) -> PendingStreamWriter:
        """A writer for one task (runs on the executor); it opens its stream on first rows."""
        return PendingStreamWriter(self)


@dataclass
class PendingStreamWriter:
    """One task's PENDING stream: created lazily, appended in order at explicit offsets.

    Runs in the Spark task. :meth:`finish` waits for every append, finalizes the stream and
    returns its report (None if the task had no valid row); :meth:`abandon` drops the
    connection without finalizing (the rows are then never committed).
    """

    target: StorageWriteTarget
    _client: Any = field(default=None, repr=False)
    _stream: Any = field(default=None, repr=False)
    _name: str = ""
    _rows: int = 0
    _bytes: int = 0
    _in_flight: deque[Any] = field(default_factory=deque, repr=False)

    def append(self, table: pa.Table) -> None:
        """Send ``table``'s rows (in the target's schema), in requests under 10 MB."""
        if table.num_rows == 0:
            return
        if self._stream is None:
            self._open()
        from google.cloud.bigquery_storage_v1 import types

        for batch in _request_sized(table, MAX_REQUEST_BYTES):
            # The stream on every request, not only the connection's first: the service
            # accepts both, the emulator binds each request by it (docs/design/emulators.md).
            request = types.AppendRowsRequest(write_stream=self._name)
            # A resent request is refused at its offset, never appended twice.
            request.offset = self._rows  # type: ignore[assignment]  # proto-plus wraps Int64Value
            request.arrow_rows.rows.serialized_record_batch = batch.serialize().to_pybytes()
            while len(self._in_flight) >= MAX_APPENDS_IN_FLIGHT:
                self._wait(self._in_flight.popleft())
            self._in_flight.append(self._stream.send(request))
            self._rows += batch.num_rows
            self._bytes += batch.nbytes

    def finish(self) -> StreamReport | None:
        """Wait for every append, finalize the stream; its report, or None without rows."""
        if self._stream is None:
            return None
        try:
            while self._in_flight:
                self._wait(self._in_flight.popleft())
        finally:
            self._stream.close()
        response = self._client.finalize_write_stream(
            name=self._name, timeout=self.target.request_timeout_seconds
        )
        if int(response.row_count) != self._rows:
            raise StorageWriteError(
                f"stream {self._name}: finalized with {response.row_count} rows, "
                f"{self._rows} were appended"
            )
        return StreamReport(self._name, self._rows, self._bytes)

    def abandon(self) -> None:
        """Close without finalizing: the stream's rows are never committed."""
        if self._stream is not None:
            self._stream.close()

    def _open(self) -> None:
        from google.cloud.bigquery_storage_v1 import types, writer

        self._client = write_client(self.target.api_endpoint)
        stream = self._client.create_write_stream(
            parent=self.target.table_path,
            write_stream=types.WriteStream(type_=types.WriteStream.Type.PENDING),
            timeout=self.target.request_timeout_seconds,
        )
        self._name = stream.name
        template = types.AppendRowsRequest(write_stream=stream.name)
        template.arrow_rows.writer_schema.serialized_schema = (
            self.target.schema.serialize().to_pybytes()
        )
        self._stream = writer.AppendRowsStream(self._client, template)

    def _wait(self, future: Any) -> None:
        try:
            response = future.result(timeout=self.target.request_timeout_seconds)
        except Exception as error:  # the library raises the server's status as any type
            raise StorageWriteError(f"append to {self._name} failed: {error}") from error
        if response.error and response.error.code:
            raise StorageWriteError(
                f"append to {self._name} failed: {response.error.message} "
                f"(code {response.error.code})"
            )


def _request_sized(table: pa.Table, max_bytes: int) -> list[pa.RecordBatch]:
    """``table`` as record batches of at most about ``max_bytes`` each."""
    batches: list[pa.RecordBatch] = []
    for batch in table.to_batches():
        if batch.num_rows == 0:
            continue
        per_row = max(1, batch.nbytes // batch.num_rows)
        step = max(1, max_bytes // per_row)
        batches += [batch.slice(start, step) for start in range(0, batch.num_rows, step)]
    return batches


@dataclass(frozen=True)
class CommitOutcome:
    """Which streams a batch committed."""

    streams: tuple[str, ...]
    rows: int


Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class StagingStart(Generic[Outcome]):
    """One table's part of a batch as the driver finds it before the tasks run."""

    job_prefix: str
    batch_id: int
    target: StorageWriteTarget | None = None
    """Where the tasks append; None when an earlier attempt committed or applied the batch."""
    committed_rows: int = 0
    """Rows an earlier attempt committed to the staging table: the tasks append nothing."""
    done: Outcome | None = None
    """The earlier attempt's merge (or insert) of the staged rows, when it succeeded."""


class PendingStreamStaging(Generic[Outcome]):
    """The driver's side of one table's Storage Write batch: staging table, commit once, apply.

    Subclasses say how the committed staging table reaches the destination (:meth:`apply`, a
    query job run once per id) and how to find that job of an earlier attempt
    (:meth:`already_applied`).
    """

    def __init__(
        self, table: BigQueryTable, schema: pa.Schema, api_endpoint: str | None = None
    ) -> None:
        self.table = table
        self.schema = schema
        self.api_endpoint = api_endpoint
        self._client: BigQueryWriteClient | None = None

    @property
    def client(self) -> BigQueryWriteClient:
        if self._client is None:
            self._client = write_client(self.api_endpoint)
        return self._client

    def already_applied(self, job_prefix: str, batch_id: int) -> Outcome | None:
        """The outcome of the batch's apply job if an earlier attempt ran it, else None."""
        raise NotImplementedError

    def apply(self, job_prefix: str, batch_id: int, late_cutoff: dt.datetime) -> Outcome:
        """The committed staging table into the destination, once per batch id; drops it."""
        raise NotImplementedError

    def nothing_applied(self) -> Outcome:
        """The outcome of a batch without a row for this table."""
        raise NotImplementedError

    def before_tasks(self, job_prefix: str, batch_id: int) -> StagingStart[Outcome]:
        """Where the tasks append; nothing to append if an earlier attempt committed or applied.

        The check comes before any append: a replay of a committed batch opens no stream.
        """
        done = self.already_applied(job_prefix, batch_id)
        if done is not None:
            return StagingStart(job_prefix, batch_id, done=done)
        committed = self.prepare(job_prefix, batch_id)
        if isinstance(committed, int):
            return StagingStart(job_prefix, batch_id, committed_rows=committed)
        return StagingStart(job_prefix, batch_id, target=committed)

    def prepare(self, job_prefix: str, batch_id: int) -> StorageWriteTarget | int:
        """Create the batch's staging table and return the target the tasks append to; or,
        if an earlier attempt committed rows there, how many (nothing is appended then).

        A new table is the common case and costs one call; only an existing table (a replay)
        is counted, since nothing but the batch's one commit ever writes to it.
        """
        from google.api_core.exceptions import Conflict
        from google.cloud import bigquery

        from schemas.derive import bigquery_schema

        staging_id = self.table.staging_table_id(job_prefix, batch_id)
        table = bigquery.Table(staging_id, schema=bigquery_schema(self.table.fields))
        table.expires = dt.datetime.now(dt.UTC) + STAGING_TABLE_LIFETIME
        try:
            self.table.client.create_table(table, timeout=self.table.timeout)
        except Conflict:
            committed = self.staged_rows(job_prefix, batch_id)
            if committed:
                log.info(
                    "bigquery storage write already committed, committing nothing batch_id=%s "
                    "table=%s staged_rows=%d appends=0",
                    batch_id, self.table.table, committed,
                )  # fmt: skip
                return committed
        return StorageWriteTarget(
            table_path=_table_path(staging_id),
            schema=self.schema,
            api_endpoint=self.api_endpoint,
            request_timeout_seconds=self.table.timeout,
        )

    def after_tasks(
        self,
        start: StagingStart[Outcome],
        streams: Sequence[StreamReport],
        late_cutoff: dt.datetime,
    ) -> Outcome:
        """Commit the tasks' streams once, then apply the staging table (see the module)."""
        if start.done is not None:
            return start.done
        if start.target is not None:
            if not streams:
                self.table.drop_staging(start.job_prefix, start.batch_id)
                return self.nothing_applied()
            self.commit(streams, start.job_prefix, start.batch_id)
        return self.apply(start.job_prefix, start.batch_id, late_cutoff)

    def staged_rows(self, job_prefix: str, batch_id: int) -> int:
        """Rows in the batch's staging table (only a commit of this batch writes there)."""
        staging = self.table.staging_table_id(job_prefix, batch_id)
        job = self.table.client.query(
            f"SELECT COUNT(*) AS n FROM `{staging}`",
            location=self.table.location, timeout=self.table.timeout,
        )  # fmt: skip
        row = next(iter(job.result(timeout=self.table.jobs.job_timeout_seconds)))
        return int(row["n"])

    def commit(
        self, streams: Sequence[StreamReport], job_prefix: str, batch_id: int
    ) -> CommitOutcome:
        """``BatchCommitWriteStreams`` of every stream: all of them land, or none."""
        names = tuple(report.name for report in streams)
        rows = sum(report.rows for report in streams)
        started = time.monotonic()
        staging_id = self.table.staging_table_id(job_prefix, batch_id)
        response = self.client.batch_commit_write_streams(
            request={"parent": _table_path(staging_id), "write_streams": list(names)},
            timeout=self.table.timeout,
        )
        if response.stream_errors:
            errors = "; ".join(
                f"{error.entity}: {error.error_message}" for error in response.stream_errors
            )
            raise StorageWriteError(
                f"batch {batch_id}: commit of {len(names)} streams failed: {errors}"
            )
        log.info(
            "bigquery storage write committed batch_id=%s table=%s streams=%s rows=%d seconds=%.2f",
            batch_id, staging_id.split(".")[-1], ",".join(names), rows, time.monotonic() - started,
        )  # fmt: skip
        return CommitOutcome(names, rows)


def _table_path(table_id: str) -> str:
    """``project.dataset.table`` as the Storage Write API names it."""
    project, dataset, table = table_id.split(".")
    return f"projects/{project}/datasets/{dataset}/tables/{table}"


class StorageWriteStaging(PendingStreamStaging[SinkOutcome]):
    """The valid events: the staging table merged into the history and the current state."""

    def __init__(
        self, sink: IdempotentEventSink, schema: pa.Schema, api_endpoint: str | None = None
    ) -> None:
        super().__init__(sink.history, schema, api_endpoint)
        self.sink = sink
        self.history: BigQueryTable = sink.history

    def already_applied(self, job_prefix: str, batch_id: int) -> SinkOutcome | None:
        return self.sink.already_merged(job_prefix, batch_id)

    def apply(self, job_prefix: str, batch_id: int, late_cutoff: dt.datetime) -> SinkOutcome:
        return self.sink.merge_staged(job_prefix, batch_id, late_cutoff)

    def nothing_applied(self) -> SinkOutcome:
        return SinkOutcome(job_id="", already_loaded=False)


class RejectedRowsStaging(PendingStreamStaging[JobOutcome]):
    """The rejected rows: the staging table appended to the rejected table by one query job.

    The job has the id a load job of the batch would have (``<prefix>_<table>_<batch id>``):
    whichever write method ran it, a replay finds it and inserts nothing twice.
    """

    def _base_id(self, job_prefix: str, batch_id: int) -> str:
        return job_id_part(f"{job_prefix}_{self.table.table}_{batch_id}")

    def already_applied(self, job_prefix: str, batch_id: int) -> JobOutcome | None:
        base_id = self._base_id(job_prefix, batch_id)
        done = finished_batch_job(self.table, base_id, job_prefix, batch_id, "inserted")
        return None if done is None else JobOutcome(job_id=done, already_done=True)

    def apply(self, job_prefix: str, batch_id: int, late_cutoff: dt.datetime) -> JobOutcome:
        del late_cutoff  # rejected rows are appended as they are
        staging = self.table.staging_table_id(job_prefix, batch_id)
        columns = ", ".join(f"`{field.name}`" for field in self.table.fields)
        sql = f"INSERT INTO `{self.table.table_id}` ({columns}) SELECT {columns} FROM `{staging}`"

        def start(job_id: str) -> object:
            return self.table.client.query(
                sql, job_id=job_id, location=self.table.location,
                timeout=self.table.timeout, job_retry=None,
            )  # fmt: skip

        what = f"batch {batch_id} of {self.table.table}"
        base_id = self._base_id(job_prefix, batch_id)
        outcome = self.table.jobs.run_once(base_id, start, what)  # type: ignore[arg-type]
        self.table.drop_staging(job_prefix, batch_id)
        log.info("bigquery rejected rows inserted %s job_id=%s", what, outcome.job_id)
        return outcome

    def nothing_applied(self) -> JobOutcome:
        return JobOutcome(job_id="", already_done=False)


@dataclass(frozen=True)
class StorageWriteTables:
    """The two tables a batch writes through the Storage Write API (the method's driver side)."""

    events: StorageWriteStaging
    rejected: RejectedRowsStaging
