"""Where ``olist health`` and the ``pipeline_health`` DAG find each component, and the thresholds.

Every value comes from an ``OLIST_*`` variable. The names the pipeline's own processes use
(``OLIST_API_URL``, ``OLIST_PUBSUB_SUBSCRIPTION``, ``OLIST_TRIGGER_INTERVAL``, ...) mean the
same here, so a health check configured like the pipeline checks that pipeline. The defaults
fit the 5-minute trigger: a stage is late after 2 trigger intervals (warn) or 3 (fail).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from schemas.log_format import LoggingSettings

BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY = 1500
"""BigQuery quota: load jobs per table per day (failed ones count too)."""


def interval_seconds(interval: str) -> float:
    """Seconds in an interval such as ``"5 minutes"`` (Spark's trigger syntax)."""
    units = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
    parts = interval.strip().lower().split()
    unit = parts[1].rstrip("s") if len(parts) == 2 else ""
    if unit not in units:
        raise ValueError(f"interval {interval!r}: expected '<number> <unit>', e.g. '5 minutes'")
    amount = float(parts[0])
    if amount <= 0:
        raise ValueError(f"interval {interval!r}: must be positive")
    return amount * units[unit]


class HealthSettings(LoggingSettings):
    """Endpoints of the components and the thresholds of every check."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    gcp_project: str = Field(
        default="olist-local", description="Project of the subscriptions, bucket and dataset."
    )
    api_url: str = Field(default="http://127.0.0.1:8000", description="Base URL of the source API.")
    api_key: SecretStr | None = Field(
        default=None, description="Sent as X-API-Key to read the API's head sequence."
    )
    health_http_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Timeout of each HTTP call of a check (API /readyz, producer /metrics, "
        "job /status); a slower answer fails the check.",
    )
    health_webhook_url: SecretStr | None = Field(
        default=None,
        description="Slack-compatible incoming webhook the pipeline_health DAG posts failed "
        "checks to (the Airflow Variable olist_health_webhook_url takes precedence); unset: "
        "failures are only logged.",
    )
    health_producer_metrics_url: str = Field(
        default="http://127.0.0.1:9102/metrics", description="The producer's Prometheus endpoint."
    )
    health_stream_status_url: str = Field(
        default="http://127.0.0.1:9108/status", description="The streaming job's /status."
    )
    pubsub_subscription: str = Field(
        default="olist-order-events-streaming", description="Subscription the job reads."
    )
    pubsub_dead_letter_subscription: str = Field(
        default="olist-order-events-dead-letter-inspect",
        description="Subscription on the dead-letter topic (created by `olist setup`).",
    )
    pubsub_emulator_host: str | None = Field(
        default=None,
        validation_alias="PUBSUB_EMULATOR_HOST",
        description="host:port of a Pub/Sub emulator; unset = Google, whose backlog is read "
        "from Cloud Monitoring.",
    )
    bigquery_api_endpoint: str | None = Field(
        default=None, description="BigQuery REST endpoint of an emulator; unset = Google."
    )
    bigquery_dataset: str = Field(default="olist", description="BigQuery dataset of both tables.")
    bigquery_table: str = Field(default="order_events", description="Table of the valid events.")
    lake_bucket: str = Field(default="olist-lake", description="Cloud Storage bucket of the lake.")
    lake_events_prefix: str = Field(
        default="order_events", description="Object prefix of the events' Parquet files."
    )
    storage_emulator_host: str | None = Field(
        default=None,
        validation_alias="STORAGE_EMULATOR_HOST",
        description="URL of a Cloud Storage emulator (the client convention); unset = Google.",
    )

    trigger_interval: str = Field(
        default="5 minutes",
        description="The streaming job's trigger interval: the unit of the lateness thresholds.",
    )
    health_late_warn_triggers: float = Field(
        default=2.0,
        gt=0,
        description="Warn when the job's last trigger, the oldest unacked message or the "
        "newest BigQuery row (with events pending) is older than this many trigger intervals.",
    )
    health_late_fail_triggers: float = Field(
        default=3.0, gt=0, description="Fail at this many trigger intervals (same measures)."
    )
    health_batch_duration_warn_triggers: float = Field(
        default=0.8,
        gt=0,
        description="Warn when the last batch took this fraction of the trigger interval "
        "(the job is about to fall behind).",
    )
    health_batch_duration_fail_triggers: float = Field(
        default=2.0,
        gt=0,
        description="Fail when the last batch took this many trigger intervals.",
    )
    health_producer_lag_warn_events: int = Field(
        default=100_000, ge=0, description="Warn when the producer is this many events behind."
    )
    health_producer_lag_fail_events: int = Field(
        default=1_000_000, ge=0, description="Fail when the producer is this many events behind."
    )
    health_producer_lag_warn_seconds: float = Field(
        default=120.0,
        ge=0,
        description="Warn when the producer has been behind the API's head for this long.",
    )
    health_producer_lag_fail_seconds: float = Field(
        default=600.0, ge=0, description="Fail when it has been behind for this long."
    )
    health_rejected_rows_warn: int = Field(
        default=0,
        ge=0,
        description="Warn above this many rows rejected by the job in the last hour.",
    )
    health_rejected_rows_fail: int = Field(
        default=10_000, ge=0, description="Fail above this many rejected rows in the last hour."
    )
    health_dead_letters_warn: int = Field(
        default=0,
        ge=0,
        description="Warn above this many messages on the dead-letter subscription.",
    )
    health_dead_letters_fail: int = Field(
        default=1000, ge=0, description="Fail above this many dead-lettered messages."
    )
    health_load_jobs_warn_fraction: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Warn when today's load jobs into the table exceed this fraction of the "
        "1,500/table/day quota.",
    )
    health_load_jobs_fail_fraction: float = Field(
        default=0.95, gt=0, le=1, description="Fail above this fraction of the quota."
    )

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> HealthSettings:
        """Settings from ``{"OLIST_API_URL": ..., "PUBSUB_EMULATOR_HOST": ...}`` (the
        environment variables' names) on top of the environment: the Airflow Variable's form."""
        aliases = {"PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"}
        return cls.model_validate(
            {
                (name if name in aliases else name.removeprefix("OLIST_").lower()): value
                for name, value in variables.items()
            }
        )

    @field_validator("trigger_interval")
    @classmethod
    def _interval_is_valid(cls, value: str) -> str:
        interval_seconds(value)
        return value

    @property
    def trigger_seconds(self) -> float:
        return interval_seconds(self.trigger_interval)

    def late_seconds(self) -> tuple[float, float]:
        """(warn, fail) ages in seconds: the lateness thresholds in trigger intervals."""
        trigger = self.trigger_seconds
        return self.health_late_warn_triggers * trigger, self.health_late_fail_triggers * trigger
