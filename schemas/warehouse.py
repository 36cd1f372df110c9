"""Columns of the warehouse tables: the event, the analytics derived from it, and lineage.

``order_events`` (BigQuery table and Parquet files) = every :class:`OrderEvent` field, then
:data:`DERIVED_FIELDS` (computed by the streaming job), then :data:`LINEAGE_FIELDS` (where the
row came from). ``order_events_rejected`` holds what failed validation, with the reason.
"""

from __future__ import annotations

from schemas.fields import FieldSpec, field_specs

SOURCE_TIME_ZONE = "America/Sao_Paulo"
"""Zone of the source data's wall-clock times: calendar dates (``purchase_date``, "delivered
late") are taken in it. Timestamps themselves are instants (UTC on the wire and in tables)."""

PARTITION_FIELD = "purchase_date"
"""Both the BigQuery table and the Parquet layout are partitioned by this DATE column."""

CLUSTERING_FIELDS = ("customer_state", "product_category_name_english")
"""BigQuery clustering of ``order_events``: the columns most queries filter or group by."""

DERIVED_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        PARTITION_FIELD,
        "date",
        False,
        description="Date of order_purchase_timestamp in America/Sao_Paulo.",
    ),
    FieldSpec(
        "delivery_time_hours",
        "float64",
        True,
        description="Hours from purchase to delivery to the customer; null if undelivered.",
    ),
    FieldSpec("delivery_time_days", "float64", True, description="delivery_time_hours / 24."),
    FieldSpec(
        "delivery_delay_days",
        "float64",
        True,
        description="Days after the estimated delivery date (negative: early).",
    ),
    FieldSpec(
        "delivered_late",
        "bool",
        True,
        description="Delivered on a later day than the estimated delivery date (dates in "
        "America/Sao_Paulo); null if undelivered.",
    ),
    FieldSpec(
        "freight_share",
        "float64",
        True,
        description="freight_value / price; null when the price is 0.",
    ),
)

LINEAGE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "pubsub_message_id", "string", False, description="Pub/Sub message that carried the event."
    ),
    FieldSpec(
        "pubsub_publish_time", "timestamp", False, description="When the message was published."
    ),
    FieldSpec(
        "stream_batch_id", "int64", False, description="Streaming micro-batch that wrote the row."
    ),
)

REJECTED_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "rejected_date", "date", False, description="UTC publish date of the message (partition)."
    ),
    FieldSpec("pubsub_message_id", "string", False, description="Pub/Sub message of the payload."),
    FieldSpec(
        "pubsub_publish_time", "timestamp", False, description="When the message was published."
    ),
    FieldSpec("event_index", "int64", False, description="Position of the payload in its message."),
    FieldSpec(
        "attributes_json", "string", True, description="Message attributes as a JSON object."
    ),
    FieldSpec(
        "raw_payload",
        "bytes",
        True,
        description="The payload as received, byte for byte (any bytes: JSON is not assumed; "
        "SAFE_CONVERT_BYTES_TO_STRING shows it as text).",
    ),
    FieldSpec("reason", "string", False, description="Why it was rejected: every rule it broke."),
    FieldSpec("stream_batch_id", "int64", False, description="Micro-batch that rejected it."),
)


def order_events_table_fields() -> list[FieldSpec]:
    """Every column of ``order_events`` in order: event, derived, lineage."""
    return [*field_specs(), *DERIVED_FIELDS, *LINEAGE_FIELDS]
