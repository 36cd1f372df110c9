"""The key of a rejected row: which message (its id and publish time) and which event in it.

A rejected payload has no ``event_id`` to deduplicate on, so the job knows it by its Pub/Sub
message. The message id alone is not enough: Pub/Sub's emulator numbers messages from 1 again
after a restart, so a new poison message can carry the id of an older one and be dropped as
its copy. The publish time is set once, by the server, when the message is accepted: every
redelivery of one message carries the same, and a message published after a restart carries
a later one. Together with the event's index in its message they name one rejected row,
across redeliveries, restarts of the emulator and replays of a batch.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def rejected_row_key(message_id: Column, publish_time: Column, event_index: Column) -> Column:
    """``message:<publish time, microseconds since the epoch>:<message id>:<event index>``."""
    return F.concat_ws(
        ":",
        F.lit("message"),
        F.unix_micros(publish_time).cast("string"),
        message_id,
        event_index.cast("string"),
    )
