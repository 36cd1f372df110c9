"""The Pub/Sub envelope: JSON Lines, optionally zstd-compressed, read back exactly."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.envelope import (
    MAX_PAYLOAD_BYTES,
    EnvelopeError,
    encode_events,
    split_events,
)

EVENTS = [b'{"n":1}', b'{"n":2,"city":"s\\u00e3o paulo"}', b'{"n":3}']


def test_zstd_message_is_a_standard_frame_that_splits_into_the_same_events() -> None:
    message = encode_events(EVENTS * 200, 1, 600, compression="zstd")
    assert message.attributes["content_encoding"] == "zstd"
    plain = b"\n".join(EVENTS * 200)
    assert message.attributes["uncompressed_bytes"] == str(len(plain))
    assert len(message.data) < len(plain) / 10
    # Any Zstandard reader gets the JSON Lines back (here Arrow's, independently of ours).
    codec = pa.Codec("zstd")
    assert codec.decompress(message.data, decompressed_size=len(plain), asbytes=True) == plain
    assert split_events(message.data, message.attributes) == EVENTS * 200


def test_uncompressed_message_has_no_encoding_attributes() -> None:
    message = encode_events(EVENTS, 4, 6)
    assert "content_encoding" not in message.attributes
    assert message.data == b"\n".join(EVENTS)
    assert split_events(message.data, message.attributes) == EVENTS


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"content_encoding": "gzip"}, "unknown content_encoding 'gzip'"),
        ({"uncompressed_bytes": "lots"}, "needs uncompressed_bytes between 1 and"),
        ({"uncompressed_bytes": str(MAX_PAYLOAD_BYTES + 1)}, "needs uncompressed_bytes"),
        ({"uncompressed_bytes": "5"}, "zstd payload"),
    ],
)
def test_a_compressed_message_with_bad_attributes_is_an_envelope_error(
    change: dict[str, str], error: str
) -> None:
    message = encode_events(EVENTS, 1, 3, compression="zstd")
    with pytest.raises(EnvelopeError, match=error):
        split_events(message.data, {**message.attributes, **change})


def test_corrupt_compressed_bytes_are_an_envelope_error() -> None:
    message = encode_events(EVENTS, 1, 3, compression="zstd")
    with pytest.raises(EnvelopeError, match="zstd payload cannot be decompressed"):
        split_events(b"\x28\xb5\x2f\xfd" + b"garbage" * 3, message.attributes)


def test_unknown_compression_is_refused_when_encoding() -> None:
    with pytest.raises(EnvelopeError, match="unknown compression 'brotli'"):
        encode_events(EVENTS, 1, 3, compression="brotli")  # type: ignore[arg-type]  # the wrong value under test
