"""Any payload through the source's read path and the sink's row building (issue 15, section 1).

Generated messages (valid events, envelopes, bytes that are not UTF-8, cut zstd frames, odd
attributes) go through what the job runs: the source's ``read()`` with the job's decoder,
:func:`streaming.sink_rows.rows_for_sinks` (the rows
deduplication sees; it needs a streaming frame), :func:`streaming.batch_writer.batch_columns` and
the split into the two Parquet tables. Every source row must end as a valid row or a rejected
row, and a rejected row's ``raw_payload`` must be its payload byte for byte, written to
Parquet with every string column valid UTF-8 (BigQuery refuses to load anything else).
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyspark.sql.pandas.types import to_arrow_schema

from connectors.pubsub.decoding import decode_rows, output_schema
from connectors.pubsub.records import OUTPUT_SCHEMA, unpacked_rows
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT
from streaming.batch_writer import _split, batch_columns
from streaming.event_decoder import OrderEventDecoder
from streaming.sink_rows import rows_for_sinks
from tests.connectors.test_pubsub_any_input import attribute_maps, payloads
from tests.fixtures.staged_messages import STAGED_TIME_MICROS, staged_rows


def valid_event() -> bytes:
    return json.dumps({**EXAMPLE_EVENT, "event_id": str(uuid.uuid4())}).encode()


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    kind = draw(st.sampled_from(["event", "envelope", "zstd", "any"]))
    if kind == "event":
        return valid_event(), {}
    if kind in ("envelope", "zstd"):
        events = [valid_event() for _ in range(draw(st.integers(1, 3)))]
        if draw(st.booleans()):
            events.append(draw(st.sampled_from([b"\xff\xfe{", b"{not json", b'{"a":1}'])))
        message = encode_events(events, 1, len(events), "zstd" if kind == "zstd" else "none")
        return message.data, message.attributes
    return draw(payloads()), draw(attribute_maps())


def source_rows(batch: list[tuple[bytes, dict[str, str]]]) -> pa.Table:
    """What the source's ``read()`` yields for these messages with the job's decoder."""
    decoder = OrderEventDecoder()
    target = to_arrow_schema(output_schema(OUTPUT_SCHEMA, decoder, False), timezone="UTC")
    staged = staged_rows(batch)
    return pa.Table.from_batches(
        [
            decode_rows(rows, decoder, target)
            for rows in unpacked_rows(staged, "envelope", STAGED_TIME_MICROS)
        ],
        schema=target,
    )


@settings(
    max_examples=6,
    phases=[Phase.explicit, Phase.generate],  # shrinking would rerun Spark jobs for minutes
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(messages(), min_size=1, max_size=25))
def test_every_source_row_ends_valid_or_rejected_with_its_raw_bytes(
    spark: Any, batch: list[tuple[bytes, dict[str, str]]]
) -> None:
    read = source_rows(batch)
    frame = spark.createDataFrame(read)
    built = batch_columns(rows_for_sinks(frame)).toArrow()
    events, rejected = _split(built, 7)
    assert events.num_rows + rejected.num_rows == read.num_rows

    buffer = io.BytesIO()
    pq.write_table(rejected, buffer)
    loaded = pq.read_table(io.BytesIO(buffer.getvalue()))
    for column in ("reason", "attributes_json", "pubsub_message_id"):
        loaded.column(column).validate(full=True)  # valid UTF-8
    payload_of = {
        (row["message_id"], row["event_index"]): row["payload"]
        for row in read.select(["message_id", "event_index", "payload"]).to_pylist()
    }
    for row in loaded.to_pylist():
        assert row["reason"]
        assert row["raw_payload"] == payload_of[(row["pubsub_message_id"], row["event_index"])]


def test_a_latin_1_payload_is_rejected_not_loaded_with_replacement_characters(spark: Any) -> None:
    latin_1 = json.dumps({**EXAMPLE_EVENT, "customer_city": "são paulo"}, ensure_ascii=False)
    data = latin_1.encode("latin-1")
    frame = spark.createDataFrame(source_rows([(data, {})]))
    events, rejected = _split(batch_columns(rows_for_sinks(frame)).toArrow(), 3)
    assert events.num_rows == 0
    assert rejected.column("raw_payload").to_pylist() == [data]
    assert rejected.column("reason").to_pylist() == ["payload is not valid UTF-8"]
    assert rejected.column("stream_batch_id").to_pylist() == [3]
