"""Configuration of the streaming job (``olist stream`` / ``spark-submit streaming/job.py``).

Every value comes from an ``OLIST_*`` variable and defaults to something that runs locally.
The Pub/Sub, Cloud Storage and BigQuery endpoints follow the official clients' conventions
(``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``) plus ``OLIST_BIGQUERY_API_ENDPOINT``;
left unset, the job talks to the real services with Application Default Credentials.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from schemas.log_format import LoggingSettings
from streaming.checkpoint import sibling
from streaming.intervals import interval_seconds

log = logging.getLogger(__name__)

BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY = 1500
"""BigQuery quota: load jobs per table per day (failed ones count too)."""

SECONDS_PER_DAY = 86_400


def parse_interval_seconds(interval: str) -> float:
    """Seconds in a Spark interval string such as ``"5 minutes"`` (:mod:`streaming.intervals`)."""
    return interval_seconds(interval)


class StreamSettings(LoggingSettings):
    """Settings of one streaming job process."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    gcp_project: str = Field(
        default="olist-local", description="Project of the subscription, bucket and dataset."
    )
    pubsub_subscription: str = Field(
        default="olist-order-events-streaming",
        description="Subscription the job reads (created by `olist setup`).",
    )
    pubsub_topic: str = Field(
        default="olist-order-events",
        description="Events topic: the job never publishes; `olist deadletter rejected replay` "
        "sends replayed rows there.",
    )
    pubsub_emulator_host: str | None = Field(
        default=None,
        validation_alias="PUBSUB_EMULATOR_HOST",
        description="host:port of a Pub/Sub emulator (the client convention); unset = Google.",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark master: local[N], spark://host:port (standalone), k8s://https://host "
        "(docs/operations/streaming.md#running-on-a-cluster). Under spark-submit, its --master "
        "is used and a different value set here is refused.",
    )
    checkpoint_dir: Path = Field(
        default=Path(".local/stream/checkpoint"),
        validate_default=True,
        description="Structured Streaming checkpoint (a persistent volume in k3s).",
    )
    staging_dir: Path | None = Field(
        default=None,
        description="Where the Pub/Sub source stages pulled messages; defaults to "
        "<checkpoint_dir>/../pubsub-staging, on the same volume as the checkpoint.",
    )
    checkpoint_location: str | None = Field(
        default=None,
        description="The checkpoint as a Hadoop URI, e.g. gs://bucket/olist/checkpoint (needs "
        "the Cloud Storage connector jar); overrides checkpoint_dir.",
    )
    staging_location: str | None = Field(
        default=None,
        description="Where the Pub/Sub source stages pulled messages: gs://bucket/prefix (any "
        "executor host can read it) or a path; overrides staging_dir. Unset: staging_dir, else "
        "pubsub-staging next to the checkpoint.",
    )
    shared_filesystem: bool = Field(
        default=False,
        description="On a non-local master, the checkpoint and staging paths are on a volume "
        "mounted at the same path on the driver and every executor (ReadWriteMany PVC, NFS). "
        "Without it such paths are refused at start.",
    )
    trigger_interval: str = Field(
        default="5 minutes", description="processingTime trigger interval."
    )
    available_now: bool = Field(
        default=False, description="Process what is available, then stop (backfills)."
    )
    max_records_per_trigger: int | None = Field(
        default=1_000_000,
        ge=1,
        description="Admission control: rows per micro-batch at most, also for --available-now "
        "(a backlog drains in several batches). 1M events: one batch in ~26 s at 3.4 GB peak "
        "memory on 2 cores (docs/operations/streaming.md#performance).",
    )
    read_partitions: int = Field(
        default=2, ge=1, description="Spark partitions (tasks) reading a batch."
    )
    state_partitions: int = Field(
        default=4,
        ge=1,
        description="Partitions of the deduplication state (spark.sql.shuffle.partitions); "
        "fixed by the checkpoint once the query has run.",
    )
    dedup_window: str = Field(
        default="24 hours",
        description="How long the job remembers an event_id in its Spark state: copies read "
        "within this delay of the first are dropped there (counted); later copies are dropped "
        "by the BigQuery sink, which inserts each event_id once. No event is ever dropped for "
        "being late; rows published longer ago than this are counted as late.",
    )

    lake_bucket: str = Field(default="olist-lake", description="Cloud Storage bucket of the lake.")
    lake_events_prefix: str = Field(
        default="order_events", description="Object prefix of the events' Parquet files."
    )
    lake_rejected_prefix: str = Field(
        default="rejected", description="Object prefix of the rejected rows' Parquet files."
    )
    lake_max_rows_per_file: int = Field(
        default=500_000,
        ge=1000,
        description="A partition's rows in one batch are split into files of at most this many.",
    )
    lake_upload_threads: int = Field(
        default=16, ge=1, description="Parallel object uploads per Spark task."
    )

    bigquery_api_endpoint: str | None = Field(
        default=None, description="BigQuery REST endpoint of an emulator; unset = Google."
    )
    bigquery_storage_api_endpoint: str | None = Field(
        default=None,
        description="host:port of an emulator's BigQuery Storage gRPC API (plaintext, no "
        "credentials), used by the storage_write method; unset = Google.",
    )
    bigquery_write_method: Literal["load", "storage_write"] = Field(
        default="load",
        description="How a batch's valid events and rejected rows reach their BigQuery staging "
        "tables: `load` (load jobs of the batch's Parquet objects; 1,500 per table per day) or "
        "`storage_write` (the Spark tasks append the rows through the Storage Write API, "
        "committed once per batch and table; no load job, so no bound on the trigger "
        "interval). Both are exactly once (docs/design/architecture.md#bigquery-write-methods).",
    )
    bigquery_dataset: str = Field(default="olist", description="BigQuery dataset of both tables.")
    bigquery_location: str = Field(default="US", description="BigQuery dataset location.")
    bigquery_table: str = Field(default="order_events", description="Table of the valid events.")
    bigquery_rejected_table: str = Field(
        default="order_events_rejected",
        description="Table of the rejected payloads (dead letters).",
    )
    bigquery_current_table: str = Field(
        default="order_items_current",
        description="Table of the current state: the latest version of each order item, "
        "deleted items removed (maintained by a MERGE per micro-batch).",
    )
    bigquery_request_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Timeout of each BigQuery API request."
    )
    bigquery_job_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="How long a batch waits for one BigQuery job; a job still running then "
        "fails the batch, whose replay waits for the same job again.",
    )
    batch_stuck_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="A micro-batch running longer than this is reported stuck by /status and "
        "makes /readyz answer 503.",
    )

    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the /metrics, /status and /healthz server: loopback by "
        "default; 0.0.0.0 where a scraper or probe on another host needs it (Kubernetes).",
    )
    metrics_port: int = Field(
        default=9108,
        ge=0,
        le=65535,
        description="Port of /metrics, /status and /healthz (0 = no server).",
    )
    stream_warmup: bool = Field(
        default=True,
        description="Before the query starts (and /readyz answers 200), run the batch's plans "
        "once on a few synthetic rows, valid and declined, writing nowhere: a fresh JVM's "
        "first real batch then finds code generated, Python workers up "
        "(docs/operations/streaming.md#the-first-batch-after-a-start).",
    )
    stream_warmup_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="The warm-up is cancelled after this long and the query starts all the "
        "same (logged).",
    )
    stop_grace_seconds: float = Field(
        default=600.0, ge=0, description="On SIGTERM, how long to wait for a running batch."
    )

    @field_validator("checkpoint_dir", "staging_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Made absolute once, against the working directory at start: every log line shows
        # the folder the job really uses.
        return None if value is None else value.absolute()

    @field_validator("trigger_interval", "dedup_window")
    @classmethod
    def _interval_is_valid(cls, value: str) -> str:
        parse_interval_seconds(value)
        return value

    @property
    def dedup_window_seconds(self) -> float:
        return parse_interval_seconds(self.dedup_window)

    @property
    def resolved_staging_dir(self) -> Path:
        return self.staging_dir or self.checkpoint_dir.parent / "pubsub-staging"

    @property
    def topic_path(self) -> str:
        return f"projects/{self.gcp_project}/topics/{self.pubsub_topic}"

    @property
    def resolved_checkpoint_location(self) -> str:
        """The checkpoint as Spark is given it: ``checkpoint_location`` or ``checkpoint_dir``."""
        return self.checkpoint_location or str(self.checkpoint_dir)

    @property
    def resolved_staging_location(self) -> str:
        """Option ``stagingLocation`` of the source (see ``staging_location``)."""
        if self.staging_location:
            return self.staging_location
        if self.staging_dir is not None or self.checkpoint_location is None:
            return str(self.resolved_staging_dir)
        return sibling(self.checkpoint_location, "pubsub-staging")

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.gcp_project}/subscriptions/{self.pubsub_subscription}"

    def load_jobs_per_day(self) -> float:
        """BigQuery load jobs per table per day this trigger interval implies."""
        return SECONDS_PER_DAY / parse_interval_seconds(self.trigger_interval)

    def warn_about_load_job_quota(self) -> bool:
        """Log a warning when the trigger would exceed 1,500 load jobs per table per day.

        The storage_write method runs no load job (valid and rejected rows both go through
        the Storage Write API): no warning then.
        """
        per_day = self.load_jobs_per_day()
        if self.bigquery_write_method == "storage_write":
            return False
        if self.available_now or per_day <= BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY:
            return False
        log.warning(
            "trigger_interval=%r means up to %.0f BigQuery load jobs per table per day, over the "
            "quota of %d (load jobs fail once it is reached); use an interval of at least "
            "%.0f seconds for a job that runs all day, or OLIST_BIGQUERY_WRITE_METHOD="
            "storage_write",
            self.trigger_interval,
            per_day,
            BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY,
            SECONDS_PER_DAY / BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY,
        )
        return True
