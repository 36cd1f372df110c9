"""Any bytes and any attributes in: rows out, never an exception (issue 15, section 1).

The source runs the same functions on every message: ``staged_record_batch`` and
``expected_rows`` in ``latestOffset`` (driver: an exception there crash-loops the query while
the leases of every message pulled with the poison one lapse) and ``unpack_messages`` /
``unpacked_rows`` in ``read()`` (executors: an exception fails the task, and a staged batch
replays byte for byte, so it would fail forever). These properties feed them generated
payloads and attribute maps, biased towards the envelope's own attributes, and check that
every message ends as rows: its events, or its whole payload with an ``unpack_error``.

The pulled messages are real ``ReceivedMessage`` protobufs built in memory: the emulator
refuses some of the attribute maps generated here, and a property test needs hundreds of
examples, which the emulator's round trips would make minutes long. An emulator test below
publishes the named poison messages of the issue through the whole source.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
from google.pubsub_v1.types import PubsubMessage, ReceivedMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql.streaming.datasource import ReadAllAvailable

from connectors.pubsub import parse_options
from connectors.pubsub.reader import PubSubStreamReader
from connectors.pubsub.records import (
    STAGED_SCHEMA,
    expected_rows,
    output_arrow_schema,
    split_message,
    staged_record_batch,
    unpack_messages,
)
from schemas.envelope import (
    ATTRIBUTE_CONTENT_ENCODING,
    ATTRIBUTE_CONTENT_TYPE,
    ATTRIBUTE_ENVELOPE_VERSION,
    ATTRIBUTE_EVENT_COUNT,
    ATTRIBUTE_UNCOMPRESSED_BYTES,
    CONTENT_TYPE,
    encode_events,
)
from tests.fixtures.source_topic import SourceTopic

ODD_NUMBERS = ["²", "٣", "3000000000", "-1", "0", "", " 2", "1e3", "99999999999999999999"]
"""Attribute values that look numeric to ``str.isdigit`` or overflow an int32."""

envelope_values = {
    ATTRIBUTE_CONTENT_TYPE: st.sampled_from([CONTENT_TYPE, "application/json", "", "x/ndjson"]),
    ATTRIBUTE_CONTENT_ENCODING: st.sampled_from(["zstd", "identity", "gzip", ""]),
    ATTRIBUTE_EVENT_COUNT: st.one_of(st.sampled_from(ODD_NUMBERS), st.integers(0, 5).map(str)),
    ATTRIBUTE_UNCOMPRESSED_BYTES: st.one_of(
        st.sampled_from(ODD_NUMBERS), st.integers(0, 200).map(str)
    ),
    ATTRIBUTE_ENVELOPE_VERSION: st.sampled_from(["1", "2", "", "²"]),
}


@st.composite
def attribute_maps(draw: st.DrawFn) -> dict[str, str]:
    attributes = draw(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12)))
    for name, values in envelope_values.items():
        if draw(st.booleans()):
            attributes[name] = draw(values)
    if draw(st.integers(0, 9)) == 0:  # now and then, hundreds of attributes
        attributes.update({f"extra_{index}": "x" * index for index in range(300)})
    return attributes


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Raw bytes, JSON Lines, zstd frames whole and cut short, Latin-1 text."""
    lines = draw(st.lists(st.binary(max_size=30), max_size=5))
    joined = b"\n".join(lines)
    compressed = encode_events(lines or [b"{}"], 1, 1, compression="zstd").data
    return draw(
        st.sampled_from(
            [
                joined,
                compressed,
                compressed[: max(0, len(compressed) - draw(st.integers(1, 20)))],
                b"\xff\xfe{" + joined,
                '{"city": "São Paulo"}'.encode("latin-1"),
                b"",
            ]
        )
    )


def received(data: bytes, attributes: dict[str, str], index: int = 0) -> ReceivedMessage:
    """The raw protobuf a Pull returns (what :meth:`Subscriber.pull` hands the source)."""
    message = PubsubMessage(data=data, attributes=attributes, message_id=f"m-{index}")
    return ReceivedMessage(ack_id=f"ack-{index}", message=message)._pb


def rows_of(messages: list[tuple[bytes, dict[str, str]]]) -> pa.Table:
    staged = staged_record_batch(
        [received(data, attributes, index) for index, (data, attributes) in enumerate(messages)],
        "envelope",
    )
    assert staged.schema.equals(STAGED_SCHEMA)
    batches = list(unpack_messages(pa.Table.from_batches([staged]), "envelope", 0))
    assert batches and all(batch.schema.equals(output_arrow_schema()) for batch in batches)
    return pa.Table.from_batches(batches, schema=output_arrow_schema())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=payloads(), attributes=attribute_maps())
def test_any_message_becomes_rows_in_latest_offset_and_read(
    data: bytes, attributes: dict[str, str]
) -> None:
    rows = rows_of([(data, attributes)]).to_pylist()
    assert len(rows) >= 1
    assert {row["message_id"] for row in rows} == {"m-0"}
    assert [row["event_index"] for row in rows] == list(range(len(rows)))
    errors = {row["unpack_error"] for row in rows}
    if errors != {None}:  # not split: the whole payload, byte for byte, with the reason
        assert [(row["payload"], row["event_index"]) for row in rows] == [(data, 0)]
        assert all(isinstance(error, str) and error for error in errors)
    assert 1 <= expected_rows(data, attributes, "envelope") < 2**31


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(payloads(), attribute_maps()), min_size=1, max_size=8))
def test_a_batch_of_any_messages_loses_none_of_them(
    messages: list[tuple[bytes, dict[str, str]]],
) -> None:
    rows = rows_of(messages)
    message_ids = {str(message_id) for message_id in rows.column("message_id").to_pylist()}
    assert message_ids == {f"m-{index}" for index in range(len(messages))}


def test_event_count_that_str_isdigit_accepts_but_int_refuses_is_an_unpack_error() -> None:
    data, attributes = b'{"a":1}', {ATTRIBUTE_CONTENT_TYPE: CONTENT_TYPE, "event_count": "²"}
    assert expected_rows(data, attributes, "envelope") == 1
    assert split_message(data, attributes, "envelope") == (
        [data],
        "message declares event_count=² but carries 1 events",
    )


def test_event_count_beyond_int32_is_one_row_with_an_unpack_error() -> None:
    data = b'{"a":1}'
    attributes = {ATTRIBUTE_CONTENT_TYPE: CONTENT_TYPE, "event_count": "3000000000"}
    assert expected_rows(data, attributes, "envelope") == 1
    assert [row["unpack_error"] for row in rows_of([(data, attributes)]).to_pylist()] == [
        "message declares event_count=3000000000 but carries 1 events"
    ]


def test_uncompressed_bytes_that_int_refuses_is_an_unpack_error() -> None:
    message = encode_events([b'{"a":1}'], 1, 1, compression="zstd")
    attributes = {**message.attributes, ATTRIBUTE_UNCOMPRESSED_BYTES: "²"}
    assert split_message(message.data, attributes, "envelope") == (
        [message.data],
        "zstd message needs uncompressed_bytes between 1 and 9500000, found '²'",
    )


def test_an_unknown_envelope_version_is_one_row_with_an_unpack_error() -> None:
    message = encode_events([b'{"a":1}', b'{"a":2}'], 1, 2)
    attributes = {**message.attributes, ATTRIBUTE_ENVELOPE_VERSION: "2"}
    assert split_message(message.data, attributes, "envelope") == (
        [message.data],
        "unknown envelope_version '2' (this reader knows version 1)",
    )


def test_a_ten_megabyte_payload_is_one_row_with_every_byte() -> None:
    data = bytes(range(256)) * (10_000_000 // 256)
    rows = rows_of([(data, {"k": "v"})]).to_pylist()
    assert [(row["payload"] == data, row["unpack_error"]) for row in rows] == [(True, None)]


def test_poison_messages_from_the_emulator_are_staged_and_read_as_rows(
    source_topic: SourceTopic, tmp_path: Path
) -> None:
    zstd = encode_events([b'{"a":1}', b'{"a":2}'], 1, 2, compression="zstd")
    packed = {ATTRIBUTE_CONTENT_TYPE: CONTENT_TYPE}
    poison = [
        (b"\xff\xfe{", {}),
        ('{"city": "São Paulo"}'.encode("latin-1"), {}),
        (zstd.data[:-5], zstd.attributes),
        (b"\x00" * 64, zstd.attributes),
        (b"", packed),
        (b'{"a":1}', {**packed, ATTRIBUTE_EVENT_COUNT: "²"}),
        (b'{"a":1}', {**packed, ATTRIBUTE_EVENT_COUNT: "3000000000"}),
        (zstd.data, {**zstd.attributes, ATTRIBUTE_UNCOMPRESSED_BYTES: "²"}),
        (b'{"a":1}', {**packed, ATTRIBUTE_ENVELOPE_VERSION: "7"}),
        (b'{"a":1}', {ATTRIBUTE_CONTENT_TYPE: "application/protobuf"}),
        (b'{"a":1}', {f"attribute_{index}": str(index) for index in range(100)}),
        (bytes(range(256)) * (9_000_000 // 256), {}),
    ]
    message_ids = [source_topic.publish_raw(data, **attributes) for data, attributes in poison]
    reader = PubSubStreamReader(parse_options(source_topic.options(tmp_path)))
    try:
        assert reader.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
        executor_copy = pickle.loads(pickle.dumps(reader))
        rows = [
            row
            for partition in reader.partitions({"batch": 0}, {"batch": 1})
            for batch in executor_copy.read(partition)
            for row in pa.Table.from_batches([batch]).to_pylist()
        ]
    finally:
        reader.commit({"batch": 1})
    by_id = {row["message_id"]: row for row in rows}
    assert len(rows) == len(poison)  # one row each: none of them splits into events
    for message_id, (data, _) in zip(message_ids, poison, strict=True):
        assert by_id[message_id]["payload"] == data
    errors = [by_id[message_id]["unpack_error"] for message_id in message_ids]
    assert [error is not None for error in errors] == [
        False, False, True, True, True, True, True, True, True, False, False, False
    ]  # fmt: skip
