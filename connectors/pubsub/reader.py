"""The Pub/Sub stream reader: pulls and stages on the driver, reads staged files on executors.

Where each method runs (measured with PySpark 4.3):

* ``initialOffset``, ``latestOffset``, ``getDefaultReadLimit``, ``prepareForTriggerAvailableNow``,
  ``partitions`` and ``commit`` run in one long-lived Python process per query on the driver.
  It owns the Pub/Sub client (:mod:`~connectors.pubsub.subscriber`), the in-memory pull
  buffer (:mod:`~connectors.pubsub.admission`) and the lease-keeper thread
  (:mod:`~connectors.pubsub.leases`).
* ``read`` runs in executor Python workers on a pickled copy of the reader; it only opens
  staged files, so the copy carries options and nothing live.

Delivery contract:

* ``latestOffset(start, limit)`` pulls up to ``limit`` rows, stages them durably as batch
  ``start + 1`` and returns ``{"batch": start + 1}`` (or ``start`` when nothing arrived).
  Leases of staged messages are extended until they are acknowledged.
* A message is acknowledged only once the micro-batch holding it is committed: in
  ``commit(end)``, and, because Spark calls ``commit`` for batch N only when it plans batch
  N + 1, also in ``latestOffset(start)`` for every staged batch ``<= start`` (Spark calls
  ``latestOffset`` with the end of the last *committed* batch).
* The first call after a (re)start tells what Spark has logged: ``partitions(start, end)``
  (a batch being replayed: ``(start, end]`` is logged) or ``latestOffset(start)`` (only
  ``<= start`` is). Batches being replayed are read back from their staged files, byte for
  byte the same rows, ``staged_time`` included (from the manifest). Complete staged batches
  right after that never reached the offset log; they are kept, their leases re-held, and
  offered as the next batches (a release would cost every message a delivery attempt).
  Half-written files are released (``modifyAckDeadline 0``) and deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)

from connectors.pubsub.admission import PENDING, PullAdmission
from connectors.pubsub.decoding import PayloadDecoder, decode_rows, load_decoder, output_schema
from connectors.pubsub.errors import OffsetError
from connectors.pubsub.leases import LeaseKeeper
from connectors.pubsub.offsets import INITIAL_OFFSET, BatchOffset
from connectors.pubsub.options import PubSubOptions
from connectors.pubsub.partitions import PubSubInputPartition, plan_partitions
from connectors.pubsub.records import (
    OUTPUT_SCHEMA,
    staged_record_batch,
    unpack_messages,
    unpacked_rows,
)
from connectors.pubsub.staging import StagedBatch, StagedBatchWriter, StagingArea
from connectors.pubsub.staging_backends import open_staging_area
from connectors.pubsub.subscriber import Subscriber

log = logging.getLogger(__name__)


class PubSubStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Micro-batch reader of one Pub/Sub subscription (see the module docstring)."""

    def __init__(self, options: PubSubOptions, subscriber: Subscriber | None = None) -> None:
        """``subscriber``: made from the options on first use when not given (tests pass one)."""
        self.options = options
        self.staging: StagingArea = open_staging_area(
            options.staging_location,
            endpoint=options.staging_endpoint,
            timeout_seconds=options.staging_timeout_seconds,
            retry_seconds=options.staging_retry_seconds,
        )
        self._init_driver_state(subscriber)

    def _init_driver_state(self, subscriber: Subscriber | None = None) -> None:
        self._subscriber = subscriber
        self._leases: LeaseKeeper | None = None
        self._admission: PullAdmission | None = None
        self._reconciled = False
        self._available_now_cutoff: float | None = None
        self._available_now_target: int | None = None
        self._lock = threading.RLock()
        self._decoder: tuple[PayloadDecoder, pa.Schema] | None = None

    # Pickling: read() runs on a copy in executor workers, which must not carry the client,
    # the thread pool, the lease thread or the pull buffer of the driver process.
    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options, "staging": self.staging}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.options = state["options"]
        self.staging = state["staging"]
        self._init_driver_state()

    # ----------------------------------------------------------------- driver: offsets
    def initialOffset(self) -> dict[str, int]:
        """Driver. ``{"batch": 0}``: nothing staged yet.

        PySpark 4.3 calls this on every start, also when resuming from a checkpoint, so it
        must not settle staged batches: the first ``latestOffset``/``partitions`` does.
        """
        return INITIAL_OFFSET.to_dict()

    def getDefaultReadLimit(self) -> ReadLimit:
        """Driver. ``maxRecordsPerTrigger`` (bounded by default) as ``ReadMaxRows``."""
        return ReadMaxRows(self.options.max_records_per_trigger)

    def prepareForTriggerAvailableNow(self) -> None:
        """Driver, once at the start of an ``availableNow`` run, before any offset call.

        Pub/Sub has no "latest offset": the target is every message published before this
        instant. The first ``latestOffset`` drains them into staged batches (after it has
        learnt from Spark which staged batches are logged) and later calls hand them out.
        """
        self._available_now_cutoff = time.time()
        self._available_now_target = None
        log.info("pubsub available-now cutoff=%.3f", self._available_now_cutoff)

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, int]:
        """Driver. Acknowledge committed batches, then stage the next batch if data arrived.

        Spark passes the end of the last committed batch as ``start`` and the default read
        limit (``ReadAllAvailable`` for ``Trigger.Once``).
        """
        with self._lock:
            start_offset = BatchOffset.from_dict(start)
            self._reconcile(logged_through=start_offset.batch, committed_through=start_offset.batch)
            self._acknowledge_through(start_offset.batch)
            max_rows = _max_rows(limit)
            next_offset = start_offset.next()
            if self.staging.is_staged(next_offset.batch):
                return next_offset.to_dict()
            if self._available_now_cutoff is not None:
                if self._available_now_target is None:
                    self._available_now_target = self._drain(start_offset.batch, max_rows)
                if next_offset.batch <= self._available_now_target:
                    return next_offset.to_dict()
                return start_offset.to_dict()
            staged, _ = self._stage(
                next_offset.batch,
                max_rows,
                time_budget=self.options.max_pull_seconds_per_trigger,
                cutoff=None,
            )
            return (next_offset if staged is not None else start_offset).to_dict()

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> Sequence[InputPartition]:
        """Driver. Split the staged batches of ``(start, end]`` into ``numPartitions`` tasks.

        After a restart Spark calls this for the uncommitted batch before anything else, so
        it also settles the staged batches left by the previous run.
        """
        with self._lock:
            start_offset = BatchOffset.from_dict(start)
            end_offset = BatchOffset.from_dict(end)
            if end_offset < start_offset:
                raise OffsetError(f"end offset {end} is before start offset {start}")
            self._reconcile(logged_through=end_offset.batch, committed_through=start_offset.batch)
            # start is the end of the last committed batch: settle anything still staged there.
            self._acknowledge_through(start_offset.batch)
            batches = range(start_offset.batch + 1, end_offset.batch + 1)
            # A batch in the offset log must be complete; its manifest also holds the time it
            # was staged, the staged_time of its rows on every replay.
            manifests = [self.staging.manifest(batch) for batch in batches]
            row_counts = [self.staging.row_counts(batch) for batch in batches]
            return plan_partitions(
                list(batches),
                row_counts,
                self.options.num_partitions,
                [manifest.staged_time_micros for manifest in manifests],
            )

    def commit(self, end: dict[str, Any]) -> None:
        """Driver. Spark committed everything ``<= end``: acknowledge it (idempotent)."""
        with self._lock:
            self._acknowledge_through(BatchOffset.from_dict(end).batch)

    def stop(self) -> None:
        """Driver. Frees the client and hands back messages held in memory.

        PySpark 4.3 kills the process instead of calling this, on a normal stop and on a
        failure alike; leases then lapse and Pub/Sub redelivers what was not acknowledged.
        """
        with self._lock:
            if self._leases is not None:
                self._leases.stop()
            if self._admission is not None:
                self._admission.stop()
            if self._subscriber is not None:
                self._subscriber.close()
                self._subscriber = None

    # ----------------------------------------------------------------- executor: read
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """Executor. Yield the rows of the staged slices as Arrow record batches."""
        assert isinstance(partition, PubSubInputPartition), type(partition)
        decoding = self._decoding()
        unpack = self.options.unpack
        for staged_slice in partition.slices:
            slice_tables = self.staging.read_slice(
                staged_slice.batch, staged_slice.first, staged_slice.count
            )
            staged_time = staged_slice.staged_time_micros
            for table in slice_tables:
                if decoding is None:
                    yield from unpack_messages(table, unpack, staged_time)
                    continue
                for rows in unpacked_rows(table, unpack, staged_time):
                    yield decode_rows(rows, *decoding)

    def _decoding(self) -> tuple[PayloadDecoder, pa.Schema] | None:
        """The decoder of option ``decoder`` and the Arrow schema of its rows (loaded once)."""
        if self.options.decoder is None:
            return None
        if self._decoder is None:
            from pyspark.sql.pandas.types import to_arrow_schema

            decoder = load_decoder(self.options.decoder)
            schema = to_arrow_schema(
                output_schema(OUTPUT_SCHEMA, decoder, self.options.decoded_row_attributes),
                timezone="UTC",
            )
            self._decoder = (decoder, schema)
        return self._decoder

    # ----------------------------------------------------------------- driver internals
    @property
    def subscriber(self) -> Subscriber:
        if self._subscriber is None:
            self._subscriber = Subscriber(
                self.options.subscription_path, self.options.emulator_host
            )
        return self._subscriber

    @property
    def leases(self) -> LeaseKeeper:
        if self._leases is None:
            self._leases = LeaseKeeper(
                self.subscriber, self.options.ack_deadline_seconds, self.options.max_lease_seconds
            )
        return self._leases

    @property
    def admission(self) -> PullAdmission:
        if self._admission is None:
            self._admission = PullAdmission(self.subscriber, self.leases, self.options)
        return self._admission

    def _reconcile(self, logged_through: int, committed_through: int) -> None:
        """Settle staged batches found on disk, once per process, given what Spark logged."""
        if self._reconciled:
            return
        self._reconciled = True
        self.staging.ensure_exists()
        for leftover in self.staging.leftovers():
            ack_ids = self.staging.leftover_ack_ids(leftover)
            stale = self.subscriber.release(ack_ids)
            self.staging.remove_leftover(leftover)
            log.info(
                "pubsub released incomplete staging path=%s messages=%d stale=%d",
                leftover,
                len(ack_ids),
                stale,
            )
        next_unlogged = logged_through + 1
        for batch in self.staging.batches():
            if batch <= committed_through:
                continue  # acknowledged by _acknowledge_through right after
            ack_ids = self.staging.ack_ids(batch)
            if batch <= logged_through:
                self.leases.hold(batch, ack_ids)
                log.info("pubsub replaying staged batch=%d messages=%d", batch, len(ack_ids))
            elif batch == next_unlogged:
                # Complete but never logged: offered to Spark again as the next batch. Handing
                # it back instead (a nack) would count a delivery attempt per message against
                # the dead-letter policy, and pull them all again.
                self.leases.hold(batch, ack_ids)
                next_unlogged += 1
                log.info(
                    "pubsub kept unlogged staged batch=%d messages=%d logged_through=%d",
                    batch,
                    len(ack_ids),
                    logged_through,
                )
            else:
                stale = self.subscriber.release(ack_ids)
                self.staging.delete(batch)
                log.info(
                    "pubsub released unlogged batch=%d messages=%d stale=%d logged_through=%d",
                    batch,
                    len(ack_ids),
                    stale,
                    logged_through,
                )

    def _acknowledge_through(self, last_batch: int) -> None:
        for batch in self.staging.batches():
            if batch > last_batch:
                break
            ack_ids = self.leases.drop(batch) or self.staging.ack_ids(batch)
            stale = self.subscriber.acknowledge(ack_ids)
            self.staging.delete(batch)
            self._count_acknowledged(batch, len(ack_ids))
            log.info(
                "pubsub acknowledged batch=%d messages=%d stale=%d", batch, len(ack_ids), stale
            )

    def _count_acknowledged(self, batch: int, messages: int) -> None:
        """Keep the cumulative counters in the stats file (this process is not the job's)."""
        stats = self.staging.read_stats()
        stats["acknowledged_messages"] = stats.get("acknowledged_messages", 0) + messages
        stats["acknowledged_batches"] = stats.get("acknowledged_batches", 0) + 1
        stats["last_acknowledged_batch"] = batch
        self.staging.write_stats(stats)

    def _drain(self, last_batch: int, max_rows: int | None) -> int:
        """Stage every message published before the available-now cutoff; returns the target.

        Batches already staged after ``last_batch`` (kept from a previous process, see
        :meth:`_reconcile`) are part of the target. Once a pull round brings nothing
        published before the cutoff, no more pulls: what is pending is staged, and the rest
        waits in Pub/Sub for the next run.
        """
        batch = last_batch
        while self.staging.is_staged(batch + 1):
            batch += 1
        pull = True
        while True:
            staged, exhausted = self._stage(
                batch + 1, max_rows, time_budget=None, cutoff=self._available_now_cutoff, pull=pull
            )
            if staged is None:
                break
            batch = staged.batch
            pull = pull and not exhausted
        log.info("pubsub available-now target batch=%d from=%d", batch, last_batch)
        return batch

    def _stage(
        self,
        batch: int,
        max_rows: int | None,
        time_budget: float | None,
        cutoff: float | None,
        pull: bool = True,
    ) -> tuple[StagedBatch | None, bool]:
        """Pull until ``max_rows`` rows, an empty pull or the time budget; stage as ``batch``.

        Which pulled messages the batch takes, and how much each round pulls, is decided by
        :class:`PullAdmission`. Admitted messages are appended to the staged file round by
        round, so memory holds one pull round, not the whole batch. ``pull=False`` stages
        pending messages only. Returns the staged batch (``None``: nothing to stage) and
        whether a pull round came back empty (of messages up to ``cutoff``).
        """
        admission = self.admission
        deadline = None if time_budget is None else time.monotonic() + time_budget
        writer: StagedBatchWriter | None = None
        ack_ids: list[str] = []
        rows = payload_bytes = 0
        exhausted = not pull
        try:
            while True:
                admitted, admitted_rows, admitted_bytes = admission.admit(
                    max_rows, rows, len(ack_ids), payload_bytes
                )
                if admitted:
                    ack_ids.extend(message.ack_id for message in admitted)
                    rows += admitted_rows
                    payload_bytes += admitted_bytes
                    writer = writer or self.staging.writer(batch)
                    writer.write(staged_record_batch(admitted, self.options.unpack))
                full = max_rows is not None and (rows >= max_rows or admission.has_pending)
                if full or exhausted or (deadline is not None and time.monotonic() >= deadline):
                    break
                room = None if max_rows is None else max_rows - rows
                exhausted = admission.pull_round(room, cutoff) == 0
            if writer is None:
                return None, exhausted
            manifest = writer.commit()
            # Their leases were extended while pending; keep extending them as this batch's,
            # their time counted from when they were pulled.
            self.leases.move(PENDING, batch, ack_ids)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            admission.hold_pending()
        return manifest, exhausted


def _max_rows(limit: ReadLimit) -> int | None:
    if isinstance(limit, ReadAllAvailable):
        return None
    if isinstance(limit, ReadMaxRows):
        return limit.max_rows
    raise OffsetError(
        f"read limit {limit!r} is not supported by the pubsub source; "
        "it understands ReadAllAvailable and ReadMaxRows (option maxRecordsPerTrigger)"
    )
