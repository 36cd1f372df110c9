"""The valid events' BigQuery sink: exactly once by ``event_id``, history plus current state.

Per micro-batch (called on the driver by :class:`streaming.batch_writer.BatchWriter`):

1. if the batch's merge job already succeeded (a replay), nothing is loaded again;
2. the batch's Parquet objects are loaded into its own staging table (a load job run once per
   id, ``WRITE_TRUNCATE``), or, with ``OLIST_BIGQUERY_WRITE_METHOD=storage_write``, its rows
   were appended there through the Storage Write API (:mod:`streaming.bigquery_storage_write`,
   which then calls :meth:`IdempotentEventSink.merge_staged`);
3. the staged rows' purchase dates are read (the script's constant partition filters), and the
   staged rows are counted: rows, events already in the history (duplicates that reached
   the sink, e.g. re-emitted after the in-Spark deduplication window), rows published longer
   than the window ago (late, loaded all the same);
4. one script (:mod:`streaming.warehouse_merge`) inserts the new versions into the history
   and merges the current state, in a transaction, as a query job run once per id;
5. the staging table is dropped.

Deduplication in Spark (on ``event_id`` within ``OLIST_DEDUP_WINDOW``) only keeps the batch
small and bounds the state; correctness does not depend on it: a copy that comes after the
window reaches this sink and is not inserted twice, and no event is ever dropped for being
late.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streaming.bigquery_jobs import JobOutcome
from streaming.bigquery_loader import BigQueryTable, job_id_part
from streaming.warehouse_merge import (
    CurrentStateKey,
    current_state_key,
    merge_script,
    staged_counts_sql,
    staged_dates_sql,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkOutcome:
    """What one batch did to the warehouse."""

    job_id: str
    already_loaded: bool
    staged_rows: int = 0
    new_events: int = 0
    duplicate_rows: int = 0
    """Staged rows not inserted: copies within the batch or already in the history."""
    late_rows: int = 0
    """Staged rows published more than the deduplication window before the batch ran."""


def finished_batch_job(
    table: BigQueryTable, base_id: str, job_prefix: str, batch_id: int, step: str
) -> str | None:
    """The id of the batch's last job (``base_id``, the ``step`` that ends the batch for
    ``table``) if an earlier attempt ran it to success, else None; its staging table, then of
    no use, is dropped."""
    what = f"batch {batch_id} of {table.table}"
    done = table.jobs.find_done(base_id, what)
    if done is not None:
        table.drop_staging(job_prefix, batch_id)
        log.info("bigquery batch already %s, skipping %s job_id=%s", step, what, done)
    return done


class IdempotentEventSink:
    """Loads valid events into the history table and maintains the current-state table."""

    def __init__(
        self,
        history: BigQueryTable,
        current: BigQueryTable,
        key: CurrentStateKey | None = None,
    ) -> None:
        if history.partition_field is None:
            raise ValueError(f"{history.table_id}: the history table must be partitioned")
        self.history = history
        self.current = current
        self.key = key or current_state_key(history.fields)

    def ensure_exists(self) -> None:
        self.history.ensure_exists()
        self.current.ensure_exists()

    def load_batch(
        self, uris: Sequence[str], job_prefix: str, batch_id: int, late_cutoff: dt.datetime
    ) -> SinkOutcome:
        """Apply the batch's objects ``uris`` exactly once; see the module docstring."""
        if not uris:
            return SinkOutcome(job_id="", already_loaded=False)
        merged = self.already_merged(job_prefix, batch_id)
        if merged is not None:
            return merged
        self.history.load_staging(uris, job_prefix, batch_id)
        return self.merge_staged(job_prefix, batch_id, late_cutoff)

    def _merge_base(self, job_prefix: str, batch_id: int) -> str:
        return job_id_part(f"{job_prefix}_{self.history.table}_{batch_id}_merge")

    def already_merged(self, job_prefix: str, batch_id: int) -> SinkOutcome | None:
        """The outcome of the batch's merge job if it already succeeded (a replay), else None."""
        base_id = self._merge_base(job_prefix, batch_id)
        done = finished_batch_job(self.history, base_id, job_prefix, batch_id, "merged")
        return None if done is None else SinkOutcome(job_id=done, already_loaded=True)

    def merge_staged(self, job_prefix: str, batch_id: int, late_cutoff: dt.datetime) -> SinkOutcome:
        """Steps 3 to 5 on the batch's staging table, however its rows got there (a load job,
        or the Storage Write API: :mod:`streaming.bigquery_storage_write`)."""
        what = f"batch {batch_id} of {self.history.table}"
        staging = self.history.staging_table_id(job_prefix, batch_id)
        rows = self._query(staged_dates_sql(staging, self._partition))
        dates = [row["day"] for row in rows if row["day"] is not None]
        counts = self._counts(staging, late_cutoff, dates)
        script = merge_script(
            self.history.table_id,
            self.current.table_id,
            staging,
            [field.name for field in self.history.fields],
            self._partition,
            self.key,
            dates,
        )
        outcome = self._run_script(script, self._merge_base(job_prefix, batch_id), what)
        self.history.drop_staging(job_prefix, batch_id)
        new_events = counts["distinct_events"] - counts["events_loaded_before"]
        result = SinkOutcome(
            job_id=outcome.job_id,
            already_loaded=outcome.already_done,
            staged_rows=counts["staged_rows"],
            new_events=new_events,
            duplicate_rows=counts["staged_rows"] - new_events,
            late_rows=counts["late_rows"],
        )
        log.info(
            "bigquery batch merged %s job_id=%s staged=%d new=%d duplicates=%d late=%d",
            what, result.job_id, result.staged_rows, result.new_events, result.duplicate_rows,
            result.late_rows,
        )  # fmt: skip
        return result

    @property
    def _partition(self) -> str:
        return str(self.history.partition_field)

    def _query(self, sql: str) -> list[dict[str, Any]]:
        job = self.history.client.query(
            sql, location=self.history.location, timeout=self.history.timeout
        )
        return [
            dict(row.items()) for row in job.result(timeout=self.history.jobs.job_timeout_seconds)
        ]

    def _counts(
        self, staging: str, late_cutoff: dt.datetime, dates: Sequence[dt.date]
    ) -> dict[str, int]:
        sql = staged_counts_sql(self.history.table_id, staging, self._partition, late_cutoff, dates)
        row = self._query(sql)[0]
        return {name: int(value or 0) for name, value in row.items()}

    def _run_script(self, script: str, base_id: str, what: str) -> JobOutcome:
        def start(job_id: str) -> object:
            return self.history.client.query(
                script, job_id=job_id, location=self.history.location,
                timeout=self.history.timeout, job_retry=None,
            )  # fmt: skip

        return self.history.jobs.run_once(base_id, start, what)  # type: ignore[arg-type]
