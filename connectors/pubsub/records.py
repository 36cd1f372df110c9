"""Row layouts of the Pub/Sub source: staged messages on disk and the rows Spark receives.

Staged layout (one row per Pub/Sub message, written by the driver, Arrow IPC):

==================  =======================  ===========================================
``message_id``      string not null          Pub/Sub message id
``publish_time``    timestamp[us, UTC]       server publish time
``attributes``      map<string, string>      message attributes
``ordering_key``    string not null          ``""`` when the message has none
``data``            large_binary not null    raw payload
``delivery_attempt`` int32, null             only set with a dead-letter policy
``ack_id``          string not null          lease handle, used to ack or release
``row_count``       int32 not null           rows the message will yield (planning hint)
==================  =======================  ===========================================

Output layout (:data:`OUTPUT_SCHEMA`, one row per event): the message columns plus
``event_index`` (position of the event in its message), ``payload`` (the event's raw JSON
line, or the whole message when it is not packed), ``unpack_error`` (why a packed message
could not be split; the whole payload is then delivered as one row, never dropped) and
``staged_time`` (when the batch holding the row was staged: its manifest's ``created_at``,
the same on every row of the batch and on every replay of it).

:func:`unpack_messages` turns staged rows into output record batches with the exact Arrow
schema Spark checks in ``read()``; :func:`unpacked_rows` stops one step earlier, before the
``payload`` column is built (what a decoder needs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from schemas.envelope import (
    ATTRIBUTE_EVENT_COUNT,
    EnvelopeError,
    attribute_count,
    is_packed,
    split_events,
)

if TYPE_CHECKING:
    from connectors.pubsub.subscriber import ReceivedMessage

UnpackMode = Literal["envelope", "none"]
"""Option ``unpack``: one row per event of an envelope, or one row per message as received."""

STAGED_TIME_COLUMN = "staged_time"
"""Output column: when the row's batch was staged (its manifest's ``created_at``). One value per
staged batch, read back from the manifest on every replay, increasing from batch to batch: an
event time for a watermark that a replay reproduces, and a column, not a literal such as
``current_timestamp()``, whose value Spark writes into the generated code of every batch."""

OUTPUT_SCHEMA = StructType(
    [
        StructField("message_id", StringType(), nullable=False),
        StructField("publish_time", TimestampType(), nullable=False),
        StructField("attributes", MapType(StringType(), StringType(), False), nullable=False),
        StructField("ordering_key", StringType(), nullable=False),
        StructField("event_index", IntegerType(), nullable=False),
        StructField("payload", BinaryType(), nullable=False),
        StructField("delivery_attempt", IntegerType(), nullable=True),
        StructField("unpack_error", StringType(), nullable=True),
        StructField(STAGED_TIME_COLUMN, TimestampType(), nullable=False),
    ]
)
"""What ``spark.readStream.format("pubsub").load()`` returns. Columns are only ever added at the
end (``staged_time`` was); removing or changing one is a breaking change."""

STAGED_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs: a list of fields of mixed types joins to object
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("publish_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("attributes", pa.map_(pa.string(), pa.string()), nullable=False),
        pa.field("ordering_key", pa.string(), nullable=False),
        pa.field("data", pa.large_binary(), nullable=False),
        pa.field("delivery_attempt", pa.int32(), nullable=True),
        pa.field("ack_id", pa.string(), nullable=False),
        pa.field("row_count", pa.int32(), nullable=False),
    ]
)

# Output record batches stay well below Arrow's 2 GiB limit of a 32-bit-offset binary column
# and small enough for Spark's Arrow-to-row conversion to pipeline and for a worker's memory
# to hold a few batches, not a whole partition: 16,384 events of ~1.3 KB are ~21 MB of JSON,
# plus a decoder's objects (larger batches were no faster and drove up the read workers' peak
# memory: docs/connectors/pubsub.md#measurements).
OUTPUT_BATCH_ROWS = 16_384
OUTPUT_BATCH_BYTES = 32 * 1024 * 1024
"""Uncompressed payload bytes of one output batch at most (a message is never split)."""
_MESSAGES_PER_READ = 64
"""Messages whose payloads are turned into Python bytes at once (not the whole slice)."""


def output_arrow_schema() -> pa.Schema:
    """The Arrow schema Spark expects from ``read()`` for :data:`OUTPUT_SCHEMA`."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(OUTPUT_SCHEMA, timezone="UTC")


def expected_rows(data: bytes, attributes: Mapping[str, str], unpack: UnpackMode) -> int:
    """Rows a message will yield, for admission control and partition planning.

    Uses the envelope's ``event_count`` attribute when present (no need to scan the payload);
    a malformed count falls back to one row, which is what the reader emits for it.
    """
    if unpack == "none" or not is_packed(attributes):
        return 1
    if ATTRIBUTE_EVENT_COUNT in attributes:
        declared = attribute_count(attributes[ATTRIBUTE_EVENT_COUNT])
        return declared if declared else 1
    return max(1, sum(1 for line in data.split(b"\n") if line.strip()))


def staged_record_batch(received: Sequence[ReceivedMessage], unpack: UnpackMode) -> pa.RecordBatch:
    """Staged rows (:data:`STAGED_SCHEMA`) for pulled ``ReceivedMessage`` protobufs."""
    message_ids: list[str] = []
    publish_times: list[int] = []
    attributes: list[list[tuple[str, str]]] = []
    ordering_keys: list[str] = []
    payloads: list[bytes] = []
    delivery_attempts: list[int | None] = []
    ack_ids: list[str] = []
    row_counts: list[int] = []
    for item in received:
        message = item.message
        message_attributes = dict(message.attributes)
        message_ids.append(message.message_id)
        publish_times.append(
            message.publish_time.seconds * 1_000_000 + message.publish_time.nanos // 1000
        )
        attributes.append(list(message_attributes.items()))
        ordering_keys.append(message.ordering_key)
        payloads.append(message.data)
        # 0 means "no dead-letter policy", i.e. unknown, not a zeroth attempt.
        delivery_attempts.append(item.delivery_attempt or None)
        ack_ids.append(item.ack_id)
        row_counts.append(expected_rows(message.data, message_attributes, unpack))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(message_ids, type=pa.string()),
            pa.array(publish_times, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array(attributes, type=pa.map_(pa.string(), pa.string())),
            pa.array(ordering_keys, type=pa.string()),
            pa.array(payloads, type=pa.large_binary()),
            pa.array(delivery_attempts, type=pa.int32()),
            pa.array(ack_ids, type=pa.string()),
            pa.array(row_counts, type=pa.int32()),
        ],
        schema=STAGED_SCHEMA,
    )


def split_message(
    data: bytes, attributes: Mapping[str, str], unpack: UnpackMode
) -> tuple[list[bytes], str | None]:
    """The payload of each row of one message, and the unpack error if it could not be split."""
    if unpack == "none":
        return [data], None
    try:
        events = split_events(data, attributes)
    except EnvelopeError as error:
        return [data], str(error)
    if not events:
        return [data], "packed message carries no events"
    return events, None


@dataclass(frozen=True)
class UnpackedRows:
    """The output rows of a run of staged messages, before their ``payload`` column is built.

    A decoder (:mod:`connectors.pubsub.decoding`) reads ``payloads`` and builds the column
    with only the payloads it declined, sparing a copy of the ones it decoded.
    """

    messages: pa.Table
    """The staged rows (:data:`STAGED_SCHEMA`) the output rows come from."""
    payloads: list[bytes]
    message_rows: list[int]
    """For each output row, the position of its message in ``messages``."""
    event_indexes: list[int]
    errors: list[str | None]
    staged_time_micros: int
    """Column ``staged_time`` of every row (microseconds since the epoch, UTC)."""

    def batch(
        self,
        payload: pa.Array[Any],
        target: pa.Schema,
        without_attributes: pa.Array[Any] | None = None,
    ) -> pa.RecordBatch:
        """The rows with ``payload`` as column ``payload``, in :func:`output_arrow_schema`.

        ``without_attributes``: a boolean mask of the rows whose ``attributes`` are null.
        """
        indices = pa.array(self.message_rows, type=pa.int32())

        def repeated(name: str, rows: pa.Array[Any] = indices) -> pa.Array[Any]:
            column = self.messages.column(name).take(rows).combine_chunks()
            return column.cast(target.field(name).type)

        attribute_rows = indices
        if without_attributes is not None:
            attribute_rows = pc.if_else(without_attributes, pa.scalar(None, pa.int32()), indices)

        return pa.RecordBatch.from_arrays(
            [
                repeated("message_id"),
                repeated("publish_time"),
                repeated("attributes", attribute_rows),
                repeated("ordering_key"),
                pa.array(self.event_indexes, type=pa.int32()),
                payload.cast(target.field("payload").type),
                repeated("delivery_attempt"),
                pa.array(self.errors, type=pa.string()),
                pa.repeat(
                    pa.scalar(self.staged_time_micros, target.field(STAGED_TIME_COLUMN).type),
                    len(self.payloads),
                ),
            ],
            schema=pa.schema([target.field(name) for name in OUTPUT_SCHEMA.names]),
        )


def unpack_messages(
    staged: pa.Table, unpack: UnpackMode, staged_time_micros: int
) -> Iterator[pa.RecordBatch]:
    """Output record batches (schema :func:`output_arrow_schema`) for staged message rows of
    the batch staged at ``staged_time_micros``."""
    target = output_arrow_schema()
    for rows in unpacked_rows(staged, unpack, staged_time_micros):
        yield rows.batch(pa.array(rows.payloads, type=pa.binary()), target)


def unpacked_rows(
    staged: pa.Table, unpack: UnpackMode, staged_time_micros: int
) -> Iterator[UnpackedRows]:
    """The staged messages split into events, a bounded number of rows and bytes at a time."""
    messages = _messages(staged)
    start = 0
    while start < staged.num_rows:
        payloads: list[bytes] = []
        message_rows: list[int] = []
        event_indexes: list[int] = []
        errors: list[str | None] = []
        payload_bytes = 0
        stop = start
        while stop < staged.num_rows and (
            len(payloads) < OUTPUT_BATCH_ROWS and payload_bytes < OUTPUT_BATCH_BYTES
        ):
            data, attributes = next(messages)
            events, error = split_message(data, attributes, unpack)
            payloads.extend(events)
            message_rows.extend([stop - start] * len(events))
            event_indexes.extend(range(len(events)))
            errors.extend([error] * len(events))
            payload_bytes += sum(map(len, events))
            stop += 1
        yield UnpackedRows(
            staged.slice(start, stop - start),
            payloads,
            message_rows,
            event_indexes,
            errors,
            staged_time_micros,
        )
        start = stop


def _messages(staged: pa.Table) -> Iterator[tuple[bytes, dict[str, str]]]:
    """(payload, attributes) of each staged message, a few messages in memory at a time."""
    for start in range(0, staged.num_rows, _MESSAGES_PER_READ):
        window = staged.slice(start, _MESSAGES_PER_READ)
        # Both columns are non-nullable (STAGED_SCHEMA): no None among their values.
        data = cast("list[bytes]", window.column("data").to_pylist())
        attributes = cast("list[list[tuple[str, str]]]", window.column("attributes").to_pylist())
        for payload, pairs in zip(data, attributes, strict=True):
            yield payload, dict(pairs)
