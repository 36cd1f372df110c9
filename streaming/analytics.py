"""The analytics columns the job derives from each valid event (see schemas.warehouse).

The original batch job computed the purchase date and the delivery time; this adds the delay
against the promised date, a late flag and the freight share of the price.

Timestamps are instants (UTC in the event, the job's ``spark.sql.session.timeZone`` is UTC).
Calendar dates are those of the source data's zone, :data:`schemas.warehouse.SOURCE_TIME_ZONE`
(America/Sao_Paulo; Olist's times are São Paulo wall-clock times): an order placed at 23:30 in
São Paulo belongs to that day, not to the next UTC day (docs/design/schema.md).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from schemas.warehouse import DERIVED_FIELDS, PARTITION_FIELD, SOURCE_TIME_ZONE

MICROSECONDS_PER_HOUR = 3_600_000_000
MICROSECONDS_PER_DAY = 24 * MICROSECONDS_PER_HOUR


def _hours_between(later: Column, earlier: Column) -> Column:
    return (F.unix_micros(later) - F.unix_micros(earlier)) / F.lit(MICROSECONDS_PER_HOUR)


def local_date(instant: Column) -> Column:
    """The calendar date of ``instant`` in the source data's zone (America/Sao_Paulo)."""
    return F.to_date(F.from_utc_timestamp(instant, SOURCE_TIME_ZONE))


def derived_columns() -> dict[str, Column]:
    """Expressions of every derived column, keyed by name, in schema order."""
    delivered = F.col("order_delivered_customer_date")
    estimated = F.col("order_estimated_delivery_date")
    purchased = F.col("order_purchase_timestamp")
    delivery_hours = _hours_between(delivered, purchased)
    columns = {
        PARTITION_FIELD: local_date(purchased),
        "delivery_time_hours": delivery_hours,
        "delivery_time_days": delivery_hours / F.lit(24.0),
        "delivery_delay_days": (F.unix_micros(delivered) - F.unix_micros(estimated))
        / F.lit(MICROSECONDS_PER_DAY),
        # Olist promises a date, not an instant: late means delivered on a later calendar day
        # in São Paulo.
        "delivered_late": F.when(
            delivered.isNotNull(), local_date(delivered) > local_date(estimated)
        ),
        "freight_share": F.when(
            F.col("price") > 0,
            F.col("freight_value").cast("double") / F.col("price").cast("double"),
        ),
    }
    missing = [spec.name for spec in DERIVED_FIELDS if spec.name not in columns]
    if missing or list(columns) != [spec.name for spec in DERIVED_FIELDS]:
        raise RuntimeError(f"derived columns out of step with schemas.warehouse: {missing}")
    return columns
