"""Load the Parquet objects of a micro-batch into a BigQuery table, at most once per batch.

Idempotence rests on BigQuery job ids. The load job of batch N of a query is named
``<prefix>_<query id>_<table>_<N>``; the query id lives in the checkpoint, so a new checkpoint
never collides with an old one. Before loading, the job id is looked up (``get_job``): if that
job already succeeded, nothing is loaded again; if it failed, the next attempt uses ``..._r1``,
``..._r2`` and so on. Looking up first makes this hold on the emulator too, which would run a
reused job id again where the real service answers 409 Conflict (also handled).

Quota: 1,500 load jobs per table per day (see :mod:`streaming.settings`), one per non-empty
batch here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from schemas.derive import bigquery_schema
from schemas.fields import FieldSpec

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

MAX_ATTEMPTS_PER_BATCH = 20
MAX_URIS_PER_LOAD_JOB = 10_000
"""BigQuery accepts at most 10,000 source URIs in one load job."""


class BigQueryLoadError(RuntimeError):
    """A load job failed; the message carries BigQuery's errors."""


@dataclass(frozen=True)
class LoadResult:
    """The job that holds a batch's rows, and whether an earlier attempt had loaded them."""

    job_id: str
    already_loaded: bool


def _job_id_part(value: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", value)


class _Job(Protocol):
    """What waiting for a job needs of it: ``get_job`` answers any of BigQuery's job classes."""

    @property
    def job_id(self) -> str: ...

    def result(self) -> object: ...


def _wait_quietly(job: _Job) -> None:
    """Wait for a job left running by an earlier attempt; its outcome is read afterwards."""
    from google.api_core.exceptions import GoogleAPICallError

    try:
        job.result()
    except GoogleAPICallError as error:
        log.warning("earlier load attempt failed job_id=%s error=%s", job.job_id, error)


class BigQueryTable:
    """One destination table: created from its schema if missing, loaded per batch."""

    def __init__(
        self,
        client: bigquery.Client,
        dataset: str,
        table: str,
        fields: Sequence[FieldSpec],
        partition_field: str | None = None,
        clustering_fields: Sequence[str] = (),
        location: str = "US",
    ) -> None:
        self.client = client
        self.dataset = dataset
        self.table = table
        self.fields = list(fields)
        self.partition_field = partition_field
        self.clustering_fields = list(clustering_fields)
        self.location = location

    @property
    def table_id(self) -> str:
        return f"{self.client.project}.{self.dataset}.{self.table}"

    def ensure_exists(self) -> None:
        """Create the dataset and the table (partitioned, clustered) when they are missing."""
        from google.api_core.exceptions import Conflict
        from google.cloud import bigquery

        dataset = bigquery.Dataset(f"{self.client.project}.{self.dataset}")
        dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)
        table = bigquery.Table(self.table_id, schema=bigquery_schema(self.fields))
        if self.partition_field:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=self.partition_field
            )
        if self.clustering_fields:
            table.clustering_fields = self.clustering_fields
        try:
            self.client.create_table(table)
            log.info("bigquery table created table=%s", self.table_id)
        except Conflict:
            log.debug("bigquery table exists table=%s", self.table_id)

    def load_batch(self, uris: Sequence[str], job_prefix: str, batch_id: int) -> LoadResult:
        """Append the Parquet objects ``uris`` unless this batch was already loaded."""
        from google.api_core.exceptions import Conflict, GoogleAPICallError, NotFound
        from google.cloud import bigquery

        if not uris:
            return LoadResult(job_id="", already_loaded=False)
        if len(uris) > MAX_URIS_PER_LOAD_JOB:
            raise BigQueryLoadError(
                f"batch {batch_id} wrote {len(uris)} objects, over BigQuery's "
                f"{MAX_URIS_PER_LOAD_JOB} URIs per load job: lower max_records_per_trigger"
            )
        base = _job_id_part(f"{job_prefix}_{self.table}_{batch_id}")
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            schema=bigquery_schema(self.fields),
        )
        parquet_options = bigquery.ParquetOptions()
        parquet_options.enable_list_inference = True
        config.parquet_options = parquet_options
        for attempt in range(MAX_ATTEMPTS_PER_BATCH):
            job_id = base if attempt == 0 else f"{base}_r{attempt}"
            try:
                existing = self.client.get_job(job_id, location=self.location)
            except NotFound:
                existing = None
            if existing is not None:
                if existing.state != "DONE":
                    _wait_quietly(existing)
                if existing.error_result is None:
                    log.info(
                        "bigquery batch already loaded, skipping table=%s batch_id=%s job_id=%s",
                        self.table_id, batch_id, job_id,
                    )  # fmt: skip
                    return LoadResult(job_id, already_loaded=True)
                continue  # that attempt failed: the next id is free for a new one
            try:
                job = self.client.load_table_from_uri(
                    list(uris), self.table_id, job_id=job_id, location=self.location,
                    job_config=config,
                )  # fmt: skip
            except Conflict:
                # Created by a concurrent or crashed attempt between get_job and here.
                continue
            try:
                job.result()
            except GoogleAPICallError as error:
                raise BigQueryLoadError(
                    f"load job {job_id} into {self.table_id} failed: {job.errors or error}"
                ) from error
            log.info(
                "bigquery batch loaded table=%s batch_id=%s job_id=%s files=%d",
                self.table_id, batch_id, job_id, len(uris),
            )  # fmt: skip
            return LoadResult(job_id, already_loaded=False)
        raise BigQueryLoadError(
            f"batch {batch_id} of {self.table_id}: {MAX_ATTEMPTS_PER_BATCH} load attempts failed; "
            "see the jobs named " + base + "_r*"
        )
