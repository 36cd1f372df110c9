"""Pub/Sub source option ``decoder``: typed columns made in ``read()``, declined rows kept raw.

No Spark session and no emulator: the decoder is loaded and applied as ``read()`` does.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import to_arrow_schema

from connectors.pubsub import PubSubOptionError, parse_options
from connectors.pubsub.decoding import (
    DECODED_COLUMN,
    decode_rows,
    load_decoder,
    output_schema,
)
from connectors.pubsub.records import (
    OUTPUT_SCHEMA,
    unpacked_rows,
)
from connectors.pubsub.source import source_schema
from schemas.envelope import encode_events
from tests.fixtures.decoders import NumberDecoder
from tests.fixtures.staged_messages import STAGED_TIME_MICROS, staged_rows

SUBSCRIPTION = "projects/olist-test/subscriptions/orders"
DECODER = "tests.fixtures.decoders:NumberDecoder"


def decoded_rows(
    reference: str,
    messages: list[tuple[bytes, dict[str, str]]],
    decoded_row_attributes: bool = True,
) -> list[dict]:
    decoder = load_decoder(reference)
    target = to_arrow_schema(
        output_schema(OUTPUT_SCHEMA, decoder, decoded_row_attributes), timezone="UTC"
    )
    batches = [
        decode_rows(rows, decoder, target)
        for rows in unpacked_rows(staged_rows(messages), "envelope", STAGED_TIME_MICROS)
    ]
    assert batches and all(batch.schema.equals(target) for batch in batches)
    return pa.Table.from_batches(batches).to_pylist()


def test_decoder_option_adds_a_nullable_decoded_struct_and_relaxes_payload() -> None:
    options = parse_options(
        {"subscription": SUBSCRIPTION, "stagingLocation": "/s", "decoder": DECODER}
    )
    schema = source_schema(options)
    assert schema.names == [*OUTPUT_SCHEMA.names, DECODED_COLUMN]
    assert schema[DECODED_COLUMN].nullable is True
    assert schema[DECODED_COLUMN].dataType == NumberDecoder().decoded_type()
    assert schema["payload"].nullable is True
    without = parse_options({"subscription": SUBSCRIPTION, "stagingLocation": "/s"})
    assert source_schema(without) == OUTPUT_SCHEMA


def test_decoded_rows_carry_the_struct_and_declined_rows_keep_their_payload() -> None:
    packed = encode_events([b"7", b"x", b"42"], 1, 3)
    rows = decoded_rows(DECODER, [(packed.data, packed.attributes), (b"5", {})])
    assert [(r["payload"], r[DECODED_COLUMN]) for r in rows] == [
        (None, {"value": 7}),
        (b"x", None),
        (None, {"value": 42}),
        (None, {"value": 5}),
    ]


def test_without_decoded_row_attributes_only_decoded_rows_lose_their_attributes() -> None:
    packed = encode_events([b"7", b"x"], 1, 2)
    broken = encode_events([b"8"], 3, 3)
    broken_attributes = {**broken.attributes, "event_count": "2"}
    rows = decoded_rows(
        DECODER,
        [(packed.data, packed.attributes), (broken.data, broken_attributes)],
        decoded_row_attributes=False,
    )
    attributes = [None if r["attributes"] is None else dict(r["attributes"]) for r in rows]
    assert attributes == [None, packed.attributes, broken_attributes]
    assert [r[DECODED_COLUMN] for r in rows] == [{"value": 7}, None, None]


def test_decoded_row_attributes_option_makes_attributes_nullable_and_needs_a_decoder() -> None:
    base = {"subscription": SUBSCRIPTION, "stagingLocation": "/s"}
    kept = parse_options({**base, "decoder": DECODER})
    dropped = parse_options({**base, "decoder": DECODER, "decodedRowAttributes": "False"})
    assert (kept.decoded_row_attributes, dropped.decoded_row_attributes) == (True, False)
    assert source_schema(kept)["attributes"].nullable is False
    assert source_schema(dropped)["attributes"].nullable is True
    with pytest.raises(PubSubOptionError, match="set option 'decoder' too"):
        parse_options({**base, "decodedRowAttributes": "false"})
    with pytest.raises(PubSubOptionError, match="expected 'true' or 'false', found 'no'"):
        parse_options({**base, "decoder": DECODER, "decodedRowAttributes": "no"})


def test_a_message_with_a_broken_envelope_is_never_decoded() -> None:
    packed = encode_events([b"8"], 1, 1)
    attributes = {**packed.attributes, "event_count": "2"}
    rows = decoded_rows(DECODER, [(packed.data, attributes)])
    assert rows[0]["unpack_error"] == "message declares event_count=2 but carries 1 events"
    assert (rows[0]["payload"], rows[0][DECODED_COLUMN]) == (b"8", None)


def test_a_decoder_returning_the_wrong_number_of_entries_fails_the_read() -> None:
    with pytest.raises(ValueError, match="decoder returned 1 entries for 2 payloads"):
        decoded_rows("tests.fixtures.decoders:ShortDecoder", [(b"1", {}), (b"2", {})])


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_colon_here", "expected an import path"),
        ("tests.no_such_module:Thing", "cannot import module 'tests.no_such_module'"),
        ("tests.fixtures.decoders:Missing", "has no attribute 'Missing'"),
        ("tests.fixtures.decoders:NOT_A_DECODER", "lacks decoded_type"),
    ],
)
def test_a_bad_decoder_reference_is_an_error_naming_the_option(
    reference: str, message: str
) -> None:
    with pytest.raises(PubSubOptionError, match=message) as raised:
        source_schema(
            parse_options(
                {"subscription": SUBSCRIPTION, "stagingLocation": "/s", "decoder": reference}
            )
        )
    assert "decoder" in str(raised.value)
