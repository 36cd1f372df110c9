"""A rejected row is known by its message's id *and* publish time, and its event index.

A restarted Pub/Sub emulator numbers messages from 1 again, so a message id alone can name two
different poison messages; the publish time, set once by the server, tells them apart and stays
the same on every redelivery of one message. The job's deduplication and the sink's payload
chunks both key rejected rows this way: a new poison message carrying an old message id is
rejected, not dropped as a copy, and a redelivered one still lands once.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streaming.batch_writer import batch_columns, distributed_by_partition
from streaming.job import deduplicated_events
from streaming.payload_chunks import PayloadJoiner
from streaming.settings import StreamSettings
from streaming.sink_rows import rows_for_sinks
from tests.streaming.test_any_payload_to_sink_rows import source_rows

PUBLISHED = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
FIRST_POISON = b"\xff\xfe{first poison, before the emulator restarted}"
SECOND_POISON = b"\xff\xfe{second poison, after the emulator restarted}"


def poison(message_id: str, published: dt.datetime, payload: bytes) -> pa.Table:
    """The source's row for one message of ``payload`` (not UTF-8: rejected)."""
    row = source_rows([(payload, {})])
    row = row.set_column(
        row.schema.get_field_index("message_id"), "message_id", pa.array([message_id])
    )
    position = row.schema.get_field_index("publish_time")
    return row.set_column(
        position, row.schema.field(position), pa.array([published], row.schema.field(position).type)
    )


def test_new_poison_with_a_reused_message_id_is_rejected_and_a_redelivery_is_not(
    spark: Any, tmp_path: Path
) -> None:
    first = poison("1", PUBLISHED, FIRST_POISON)
    after_restart = poison("1", PUBLISHED + dt.timedelta(minutes=3), SECOND_POISON)
    batches = [first, pa.concat_tables([first, after_restart])]  # the redelivery, the new one
    source = tmp_path / "source"
    source.mkdir()
    for number, rows in enumerate(batches):
        path = source / f"batch-{number}.parquet"
        pq.write_table(rows, path)
        os.utime(path, (1_000_000 + number, 1_000_000 + number))  # read in this order
    schema = spark.createDataFrame(first).schema
    stream = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).parquet(str(source))

    query = (
        deduplicated_events(stream, StreamSettings())
        .select("message_id", "publish_time", "payload")
        .writeStream.format("memory")
        .queryName("rejected_row_identity")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    rows = spark.table("rejected_row_identity").collect()

    assert len(query.recentProgress) >= 2  # two micro-batches: the redelivery met the state
    assert sorted(bytes(row.payload) for row in rows) == sorted([FIRST_POISON, SECOND_POISON])


def _joined(batches: Any) -> Any:
    """The sink task's join of payload chunks; one row per whole rejected payload."""
    joiner = PayloadJoiner()
    for batch in batches:
        table = joiner.join(pa.Table.from_batches([batch]))
        rejected = table.filter(pc.is_valid(table.column("reason")))
        yield pa.RecordBatch.from_pydict(
            {"raw_payload": rejected.column("raw_payload").combine_chunks()}
        )
    joiner.close()


def test_cut_payloads_of_two_messages_with_one_message_id_are_joined_each_whole(
    spark: Any,
) -> None:
    rows = pa.concat_tables(
        [
            poison("1", PUBLISHED, FIRST_POISON),
            poison("1", PUBLISHED + dt.timedelta(minutes=3), SECOND_POISON),
        ]
    )
    columns = batch_columns(rows_for_sinks(spark.createDataFrame(rows)))
    chunked = distributed_by_partition(columns, chunk_bytes=8)

    joined = chunked.mapInArrow(_joined, "raw_payload binary").collect()

    assert sorted(bytes(row.raw_payload) for row in joined) == sorted([FIRST_POISON, SECOND_POISON])
