"""A batch's valid events into BigQuery through the Storage Write API, committed exactly once.

``OLIST_BIGQUERY_WRITE_METHOD=storage_write`` replaces the batch's staging *load job* (the one
bounded by 1,500 load jobs per table per day) with Storage Write API appends; everything after
it — the history insert and the current-state MERGE of :mod:`streaming.event_sink` — is the
same script as with loads. Per micro-batch:

1. **driver, before the tasks** (:meth:`StorageWriteStaging.before_tasks`): if the batch's merge
   job already succeeded (a replay), nothing is appended again. Otherwise the batch's own
   staging table is created if missing (the same name a load would use) and a
   :class:`StorageWriteTarget` naming it travels, pickled, to the tasks;
2. **each Spark task** (:class:`PendingStreamWriter`, inside the lake's ``mapInArrow``): on its
   first valid row it opens one PENDING stream on the staging table, appends its rows as Arrow
   record batches (the Arrow schema derived from ``schemas/``, as the Parquet files are), each
   request under BigQuery's 10 MB and at an explicit offset, then finalizes the stream and
   reports its name and row count with the lake objects. Rows of a PENDING stream stay
   invisible until committed; a failed or killed attempt's streams are simply never committed;
3. **driver, after the tasks** (:meth:`StorageWriteStaging.after_tasks`): the streams the
   batch's tasks reported are committed together by one ``BatchCommitWriteStreams`` (atomic:
   all of them or none), unless the staging table already holds rows. Nothing but that one
   commit ever writes to a batch's staging table, so a non-empty table *is* the record that an
   earlier attempt of the same batch id committed (killed between the commit and Spark's
   checkpoint commit): its replay commits nothing, and goes on to the merge. The committed
   stream names are logged;
4. the staged rows are merged exactly as after a load (a query job run once per id), and the
   staging table is dropped.

Where the rows come from: the tasks already hold every valid row as Arrow to write the lake's
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
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from streaming.bigquery_loader import BigQueryTable
from streaming.event_sink import IdempotentEventSink, SinkOutcome

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
    """Which streams a batch committed now, or that an earlier attempt had committed it."""

    streams: tuple[str, ...]
    rows: int
    already_committed: bool


class StorageWriteStaging:
    """The driver's side of a Storage Write batch: staging table, commit once, then the merge."""

    def __init__(
        self,
        sink: IdempotentEventSink,
        schema: pa.Schema,
        api_endpoint: str | None = None,
    ) -> None:
        self.sink = sink
        self.history: BigQueryTable = sink.history
        self.schema = schema
        self.api_endpoint = api_endpoint
        self._client: BigQueryWriteClient | None = None

    @property
    def client(self) -> BigQueryWriteClient:
        if self._client is None:
            self._client = write_client(self.api_endpoint)
        return self._client

    def before_tasks(
        self, job_prefix: str, batch_id: int
    ) -> tuple[StorageWriteTarget | None, SinkOutcome | None]:
        """The target the tasks append to; or, for a batch merged already, its outcome."""
        merged = self.sink.already_merged(job_prefix, batch_id)
        if merged is not None:
            return None, merged
        return self.prepare(job_prefix, batch_id), None

    def prepare(self, job_prefix: str, batch_id: int) -> StorageWriteTarget:
        """Create the batch's staging table if missing (an earlier attempt may have made it)."""
        from google.cloud import bigquery

        from schemas.derive import bigquery_schema

        staging_id = self.history.staging_table_id(job_prefix, batch_id)
        table = bigquery.Table(staging_id, schema=bigquery_schema(self.history.fields))
        table.expires = dt.datetime.now(dt.UTC) + STAGING_TABLE_LIFETIME
        self.history.client.create_table(table, exists_ok=True, timeout=self.history.timeout)
        project, dataset, name = staging_id.split(".")
        return StorageWriteTarget(
            table_path=f"projects/{project}/datasets/{dataset}/tables/{name}",
            schema=self.schema,
            api_endpoint=self.api_endpoint,
            request_timeout_seconds=self.history.timeout,
        )

    def after_tasks(
        self,
        streams: Sequence[StreamReport],
        job_prefix: str,
        batch_id: int,
        late_cutoff: dt.datetime,
    ) -> SinkOutcome:
        """Commit the tasks' streams once, then merge the staging table as after a load."""
        if not streams:
            self.history.drop_staging(job_prefix, batch_id)
            return SinkOutcome(job_id="", already_loaded=False)
        self.commit(streams, job_prefix, batch_id)
        return self.sink.merge_staged(job_prefix, batch_id, late_cutoff)

    def staged_rows(self, job_prefix: str, batch_id: int) -> int:
        """Rows in the batch's staging table (only a commit of this batch writes there)."""
        staging = self.history.staging_table_id(job_prefix, batch_id)
        job = self.history.client.query(
            f"SELECT COUNT(*) AS n FROM `{staging}`",
            location=self.history.location, timeout=self.history.timeout,
        )  # fmt: skip
        row = next(iter(job.result(timeout=self.history.jobs.job_timeout_seconds)))
        return int(row["n"])

    def commit(
        self, streams: Sequence[StreamReport], job_prefix: str, batch_id: int
    ) -> CommitOutcome:
        """``BatchCommitWriteStreams`` of every stream, unless the batch was committed before."""
        names = tuple(report.name for report in streams)
        rows = sum(report.rows for report in streams)
        already = self.staged_rows(job_prefix, batch_id)
        if already:
            log.info(
                "bigquery storage write already committed, committing nothing batch_id=%s "
                "staged_rows=%d uncommitted_streams=%d",
                batch_id, already, len(names),
            )  # fmt: skip
            return CommitOutcome(names, already, already_committed=True)
        started = time.monotonic()
        project, dataset, table = self.history.staging_table_id(job_prefix, batch_id).split(".")
        response = self.client.batch_commit_write_streams(
            request={
                "parent": f"projects/{project}/datasets/{dataset}/tables/{table}",
                "write_streams": list(names),
            },
            timeout=self.history.timeout,
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
            batch_id, table, ",".join(names), rows, time.monotonic() - started,
        )  # fmt: skip
        return CommitOutcome(names, rows, already_committed=False)
