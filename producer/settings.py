"""Configuration of the ``olist produce`` and ``olist pubsub init`` processes (``OLIST_*``).

Every default runs against the local stack (API on 127.0.0.1:8000, the Pub/Sub emulator through
``PUBSUB_EMULATOR_HOST``, the cursor in a local file). The batching, flow-control and
events-per-message defaults were chosen with ``python -m bench.producer``; the figures are in
docs/design/producer.md.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from schemas.envelope import MAX_MESSAGE_BYTES, Compression
from schemas.log_format import LoggingSettings


class PubSubSettings(LoggingSettings):
    """Names of the pipeline's Pub/Sub resources (shared by ``pubsub init`` and ``produce``)."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    gcp_project: str = Field(
        default="olist-local", min_length=1, description="Google Cloud project of the topics."
    )
    pubsub_topic: str = Field(
        default="olist-order-events", min_length=3, description="Topic the events go to."
    )
    pubsub_subscription: str = Field(
        default="olist-order-events-streaming",
        min_length=3,
        description="Subscription the Spark streaming job reads (created by `olist setup`).",
    )
    pubsub_dead_letter_topic: str = Field(
        default="olist-order-events-dead-letter",
        min_length=3,
        description="Topic for events that fail validation and messages consumers give up on.",
    )
    pubsub_dead_letter_subscription: str = Field(
        default="olist-order-events-dead-letter-inspect",
        min_length=3,
        description="Subscription that keeps dead-lettered messages for inspection.",
    )
    pubsub_max_delivery_attempts: int = Field(
        default=10,
        ge=5,
        le=100,
        description="Deliveries of one message before Pub/Sub moves it to the dead-letter "
        "topic (Pub/Sub accepts 5..100).",
    )

    def topic_path(self) -> str:
        return f"projects/{self.gcp_project}/topics/{self.pubsub_topic}"

    def dead_letter_topic_path(self) -> str:
        return f"projects/{self.gcp_project}/topics/{self.pubsub_dead_letter_topic}"

    def subscription_path(self) -> str:
        return f"projects/{self.gcp_project}/subscriptions/{self.pubsub_subscription}"

    def dead_letter_subscription_path(self) -> str:
        return f"projects/{self.gcp_project}/subscriptions/{self.pubsub_dead_letter_subscription}"


class ProducerSettings(PubSubSettings):
    """Everything ``olist produce`` reads from the environment."""

    api_url: str = Field(default="http://127.0.0.1:8000", description="Base URL of the source API.")
    api_key: SecretStr | None = Field(
        default=None, description="Sent as X-API-Key when the API requires a key."
    )
    api_page_size: int = Field(
        default=2000, ge=1, le=5000, description="Events asked for per API request (1..5000)."
    )
    api_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one API request (connect, read, write)."
    )
    api_max_response_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest API answer accepted (a 5,000-event page is ~13 MB); a larger one "
        "stops the producer with a clear error instead of filling its memory.",
    )
    api_retry_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long the producer keeps retrying an unavailable API before it stops.",
    )
    startup_check_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long the first API request and the topic check may retry at start; "
        "past it the configuration is reported as wrong.",
    )
    retry_initial_delay_seconds: float = Field(
        default=0.2,
        gt=0,
        description="First backoff delay for the API and Pub/Sub (doubles per attempt, full "
        "jitter).",
    )
    retry_max_delay_seconds: float = Field(
        default=5.0, gt=0, description="Largest backoff delay between two attempts."
    )

    cursor_location: str = Field(
        default=".local/producer/cursor.json",
        min_length=1,
        validate_default=True,
        description="Where the cursor is persisted: a local file path or gs://bucket/object.",
    )
    storage_api_endpoint: str | None = Field(
        default=None,
        description="Cloud Storage endpoint of a local stand-in (fake-gcs-server) for a gs:// "
        "cursor; unset = the real service with application default credentials.",
    )

    events_per_message: int = Field(
        default=1000,
        ge=1,
        description="Most events packed into one Pub/Sub message (1 = one event per message).",
    )
    message_compression: Compression = Field(
        default="zstd",
        description="Compression of the JSON Lines payload of packed messages: 'zstd' "
        "(attribute content_encoding=zstd; a little CPU per event for several times fewer "
        "bytes to publish, store and pull) or 'none'.",
    )
    max_events_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Token-bucket limit on published events; pages shrink to one second's "
        "worth (unset: no limit).",
    )
    poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="Wait before asking again once the API head is reached."
    )
    max_pages_in_flight: int = Field(
        default=8,
        ge=1,
        description="Pages fetched and not yet behind the persisted cursor; bounds memory and "
        "the duplicates after a crash (at most this many pages are published again).",
    )
    fetch_queue_pages: int = Field(
        default=2, ge=1, description="Fetched pages waiting for the publisher (bounded queue)."
    )

    batch_max_messages: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Messages per Pub/Sub publish request (client batching).",
    )
    batch_max_bytes: int = Field(
        default=9_000_000,
        ge=1,
        le=MAX_MESSAGE_BYTES,
        description="Bytes per Pub/Sub publish request (the service refuses above 10 MB).",
    )
    batch_max_latency_seconds: float = Field(
        default=0.01, gt=0, description="Longest wait for a publish request to fill up."
    )
    flow_control_max_messages: int = Field(
        default=2000,
        ge=1,
        description="Messages handed to Pub/Sub and unconfirmed before the next page waits (a page "
        "larger than the limits is sent when nothing else is in flight).",
    )
    flow_control_max_bytes: int = Field(
        default=64_000_000,
        ge=MAX_MESSAGE_BYTES,
        description="Payload bytes handed to Pub/Sub and unconfirmed before the next page waits.",
    )
    publish_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long one message is retried on retryable Pub/Sub errors before the "
        "producer stops.",
    )
    publish_attempt_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Timeout of one publish RPC attempt."
    )

    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the /metrics and /healthz server: loopback by default; "
        "0.0.0.0 where a scraper or probe on another host needs it (Kubernetes).",
    )
    metrics_port: int = Field(
        default=9102, ge=0, le=65535, description="Port of /metrics and /healthz (0: any free)."
    )
    shutdown_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait for in-flight publishes at shutdown."
    )
    health_stuck_seconds: float = Field(
        default=300.0,
        gt=0,
        description="/healthz answers 503 once the producer has been retrying the API or "
        "waiting on Pub/Sub flow control, without progress, for this long.",
    )

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, found {value!r}")
        return value.rstrip("/")

    @field_validator("cursor_location")
    @classmethod
    def _absolute_cursor_file(cls, value: str) -> str:
        # A file path is made absolute once, against the working directory at start: the
        # logs show the file the producer really uses.
        return value if value.startswith("gs://") else str(Path(value).absolute())
