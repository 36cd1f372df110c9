"""One BigQuery destination table: created and evolved from its schema, loaded per batch.

Each load is a job run at most once per deterministic id (:mod:`streaming.bigquery_jobs`):
the load job of batch N of a query is named ``<prefix>_<query id>_<table>_<N>``; the query id
lives in the checkpoint, so a new checkpoint never collides with an old one, and a replayed
batch finds its earlier job instead of loading twice.

Schema evolution at run time (:meth:`BigQueryTable.ensure_schema`, before the first load): the
schema's evolution rule allows adding nullable fields only. A table created from an older
schema gets the missing nullable fields added (``ALTER TABLE ADD COLUMN``); anything else the rule
forbids (a missing required field, a changed type or mode, a field dropped from the schema)
is refused with a message naming each field, before any load job is spent on it.

Quota: 1,500 load jobs per table per day (see :mod:`streaming.settings`), one per non-empty
batch here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from schemas.derive import bigquery_schema
from schemas.fields import FieldSpec
from streaming.bigquery_jobs import BigQueryLoadError, JobOutcome, JobRunner

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

MAX_URIS_PER_LOAD_JOB = 10_000
"""BigQuery accepts at most 10,000 source URIs in one load job."""

__all__ = ["BigQueryLoadError", "BigQueryTable", "SchemaEvolutionError", "job_id_part"]


class SchemaEvolutionError(RuntimeError):
    """The table's schema differs from the code's in a way the evolution rule forbids."""


def job_id_part(value: str) -> str:
    """``value`` with every character a job or table id may not hold replaced by ``_``."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", value)


_DDL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def _ddl_type(field: bigquery.SchemaField) -> str:
    """The GoogleSQL type of a column, as ``ALTER TABLE ... ADD COLUMN`` spells it."""
    name = _DDL_TYPES.get(field.field_type or "", field.field_type or "")
    if field.precision is not None:
        name += f"({field.precision}, {field.scale or 0})"
    return f"ARRAY<{name}>" if field.mode == "REPEATED" else name


class BigQueryTable:
    """One destination table: created from its schema if missing, evolved, loaded per batch."""

    def __init__(
        self,
        client: bigquery.Client,
        dataset: str,
        table: str,
        fields: Sequence[FieldSpec],
        partition_field: str | None = None,
        clustering_fields: Sequence[str] = (),
        location: str = "US",
        request_timeout_seconds: float = 60.0,
        job_timeout_seconds: float = 1800.0,
    ) -> None:
        self.client = client
        self.dataset = dataset
        self.table = table
        self.fields = list(fields)
        self.partition_field = partition_field
        self.clustering_fields = list(clustering_fields)
        self.location = location
        self.timeout = request_timeout_seconds
        self.jobs = JobRunner(client, location, request_timeout_seconds, job_timeout_seconds)

    @property
    def table_id(self) -> str:
        return f"{self.client.project}.{self.dataset}.{self.table}"

    def ensure_exists(self) -> None:
        """Create the dataset and the table (partitioned, clustered) when they are missing,
        then bring an existing table's schema up to date (:meth:`ensure_schema`)."""
        from google.api_core.exceptions import Conflict
        from google.cloud import bigquery

        dataset = bigquery.Dataset(f"{self.client.project}.{self.dataset}")
        dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True, timeout=self.timeout)
        table = bigquery.Table(self.table_id, schema=bigquery_schema(self.fields))
        if self.partition_field:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=self.partition_field
            )
        if self.clustering_fields:
            table.clustering_fields = self.clustering_fields
        try:
            self.client.create_table(table, timeout=self.timeout)
            log.info("bigquery table created table=%s", self.table_id)
        except Conflict:
            log.debug("bigquery table exists table=%s", self.table_id)
            self.ensure_schema()

    def ensure_schema(self) -> list[str]:
        """Add the nullable fields the table lacks; refuse a change the rule forbids.

        Returns the names of the fields added.
        """
        table = self.client.get_table(self.table_id, timeout=self.timeout)
        existing = {field.name: field for field in table.schema}
        wanted = bigquery_schema(self.fields)
        problems = []
        for field in wanted:
            current = existing.get(field.name)
            if current is None:
                if field.mode == "REQUIRED":
                    problems.append(
                        f"{field.name}: new REQUIRED field (new fields must be NULLABLE)"
                    )
            elif (current.field_type, current.mode) != (field.field_type, field.mode):
                problems.append(
                    f"{field.name}: {current.field_type} {current.mode} in the table, "
                    f"{field.field_type} {field.mode} in the schema"
                )
        wanted_names = {field.name for field in wanted}
        problems += [
            f"{name}: in the table, not in the schema (fields are never removed)"
            for name in existing
            if name not in wanted_names
        ]
        if problems:
            raise SchemaEvolutionError(
                f"table {self.table_id} cannot take the schema of this job: "
                + "; ".join(problems)
                + ". The evolution rule (docs/design/schema.md) allows only new NULLABLE "
                "fields; deploy a job whose schema matches, or migrate the table by hand."
            )
        added = [field for field in wanted if field.name not in existing]
        if added:
            # DDL rather than tables.patch alone: the emulator applies a patched schema to its
            # catalog only, not to the table's storage (docs/design/emulators.md).
            columns = ", ".join(
                f"ADD COLUMN IF NOT EXISTS `{field.name}` {_ddl_type(field)}" for field in added
            )
            job = self.client.query(
                f"ALTER TABLE `{self.table_id}` {columns}",
                location=self.location, timeout=self.timeout,
            )  # fmt: skip
            job.result(timeout=self.jobs.job_timeout_seconds)
            table = self.client.get_table(self.table_id, timeout=self.timeout)
            described = {field.name for field in table.schema}
            if any(field.name not in described for field in added):
                # The emulator's catalog does not see columns added by DDL (the service's
                # does): record them there too (docs/design/emulators.md).
                table.schema = [*table.schema, *(f for f in added if f.name not in described)]
                self.client.update_table(table, ["schema"], timeout=self.timeout)
            log.warning(
                "bigquery table schema evolved table=%s added=%s",
                self.table_id, ",".join(field.name for field in added),
            )  # fmt: skip
        return [field.name for field in added]

    def _load_config(self, write_disposition: str, create_disposition: str) -> object:
        from google.cloud import bigquery

        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=write_disposition,
            create_disposition=create_disposition,
            schema=bigquery_schema(self.fields),
        )
        parquet_options = bigquery.ParquetOptions()
        parquet_options.enable_list_inference = True
        config.parquet_options = parquet_options
        return config

    def _load(
        self, uris: Sequence[str], destination: str, base_id: str, config: object, what: str
    ) -> JobOutcome:
        if len(uris) > MAX_URIS_PER_LOAD_JOB:
            raise BigQueryLoadError(
                f"{what} wrote {len(uris)} objects, over BigQuery's "
                f"{MAX_URIS_PER_LOAD_JOB} URIs per load job: lower max_records_per_trigger"
            )

        def start(job_id: str) -> object:
            return self.client.load_table_from_uri(
                list(uris), destination, job_id=job_id, location=self.location,
                job_config=config, timeout=self.timeout,  # type: ignore[arg-type]
            )  # fmt: skip

        outcome = self.jobs.run_once(base_id, start, what)  # type: ignore[arg-type]
        log.info(
            "bigquery load done destination=%s job_id=%s files=%d already_done=%s",
            destination, outcome.job_id, len(uris), outcome.already_done,
        )  # fmt: skip
        return outcome

    def load_batch(self, uris: Sequence[str], job_prefix: str, batch_id: int) -> JobOutcome:
        """Append the Parquet objects ``uris`` unless this batch was already loaded."""
        from google.cloud import bigquery

        if not uris:
            return JobOutcome(job_id="", already_done=False)
        config = self._load_config(
            bigquery.WriteDisposition.WRITE_APPEND, bigquery.CreateDisposition.CREATE_NEVER
        )
        base_id = job_id_part(f"{job_prefix}_{self.table}_{batch_id}")
        return self._load(uris, self.table_id, base_id, config, f"batch {batch_id} of {self.table}")

    def staging_table_id(self, job_prefix: str, batch_id: int) -> str:
        """The batch's own staging table (same dataset), named like its jobs."""
        name = job_id_part(f"{self.table}__stage_{job_prefix}_{batch_id}")
        return f"{self.client.project}.{self.dataset}.{name}"

    def load_staging(self, uris: Sequence[str], job_prefix: str, batch_id: int) -> JobOutcome:
        """Load ``uris`` into the batch's staging table, replacing what an attempt left there.

        ``WRITE_TRUNCATE`` makes the load itself idempotent: running it again yields the same
        table. The sink drops the table once the batch is merged.
        """
        from google.cloud import bigquery

        staging = self.staging_table_id(job_prefix, batch_id)
        config = self._load_config(
            bigquery.WriteDisposition.WRITE_TRUNCATE, bigquery.CreateDisposition.CREATE_IF_NEEDED
        )
        base_id = job_id_part(f"{job_prefix}_{self.table}_{batch_id}_stage")
        return self._load(uris, staging, base_id, config, f"batch {batch_id} of {self.table}")

    def drop_staging(self, job_prefix: str, batch_id: int) -> None:
        """Delete the batch's staging table (nothing happens if it is gone already)."""
        self.client.delete_table(
            self.staging_table_id(job_prefix, batch_id), not_found_ok=True, timeout=self.timeout
        )
