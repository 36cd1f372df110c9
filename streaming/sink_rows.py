"""The rows a micro-batch hands to its sinks: parsed, validated, with the deduplication key.

They keep the source's ``staged_time``, the deduplication's event time (:mod:`streaming.job`).

Shared by the streaming query (:mod:`streaming.job`) and the start-up warm-up
(:mod:`streaming.warmup`), so both plan the same projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DEDUP_KEY = "dedup_key"


def rows_for_sinks(source: DataFrame) -> DataFrame:
    """Parsed and validated rows with the columns the sinks need, the deduplication key and
    the batch's ``staged_time``."""
    from pyspark.sql import functions as F

    from connectors.pubsub.records import STAGED_TIME_COLUMN
    from streaming.rejected_key import rejected_row_key
    from streaming.validation import EVENT_COLUMN, REASON_COLUMN, parse_events

    parsed = parse_events(source)
    rejected = F.col(REASON_COLUMN).isNotNull()
    key = F.when(~rejected, F.col(EVENT_COLUMN)["event_id"]).otherwise(
        rejected_row_key(F.col("message_id"), F.col("publish_time"), F.col("event_index"))
    )
    # Only what the sinks need crosses the shuffle and reaches the driver: the raw payload and
    # the attributes are kept for rejected rows alone (they are most of a valid row's bytes).
    needed = parsed.select(
        EVENT_COLUMN,
        REASON_COLUMN,
        "message_id",
        "publish_time",
        "event_index",
        F.when(rejected, F.col("payload")).alias("payload"),
        F.when(rejected, F.col("attributes")).alias("attributes"),
        STAGED_TIME_COLUMN,
    )
    return needed.withColumn(DEDUP_KEY, key)
