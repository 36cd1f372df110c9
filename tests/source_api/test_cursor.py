"""The opaque cursor: round trips, and every kind of bad cursor is refused with its reason."""

from __future__ import annotations

import base64
import struct

import pytest

from source_api.cursor import CURSOR_VERSION, START_CURSOR, decode_cursor, encode_cursor
from source_api.errors import InvalidCursor


@pytest.mark.parametrize("sequence", [0, 1, 999, 2**31, 2**63 - 1])
def test_cursor_round_trips_the_last_sequence(sequence: int) -> None:
    cursor = encode_cursor(sequence)
    assert decode_cursor(cursor) == sequence
    assert cursor.isascii() and "=" not in cursor and "+" not in cursor and "/" not in cursor


def test_start_cursor_points_before_the_first_event() -> None:
    assert decode_cursor(START_CURSOR) == 0


def test_encode_refuses_a_sequence_outside_bigint() -> None:
    with pytest.raises(ValueError, match=r"^source_sequence must be in 0\.\.\d+, got -1$"):
        encode_cursor(-1)
    with pytest.raises(ValueError, match=rf"^source_sequence must be in 0\.\.\d+, got {2**63}$"):
        encode_cursor(2**63)


def _forge(version: int, sequence: int, digest: bytes = b"\0\0\0\0") -> str:
    raw = struct.pack(">BQ", version, sequence) + digest
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("", "is empty"),
        ("not a cursor!", "is not URL-safe base64"),
        ("é", "is not URL-safe base64"),
        ("abcd", "decodes to 3 bytes, a version 1 cursor has 13"),
        (encode_cursor(5) + "AAAA", "decodes to 16 bytes"),
        (_forge(2, 5), "has version 2, this API accepts version 1 only"),
        (_forge(CURSOR_VERSION, 5), "fails its checksum"),
        (encode_cursor(5) + "==", "is not spelled as this API issues it"),
    ],
)
def test_bad_cursor_is_refused_with_its_reason(cursor: str, reason: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(cursor)
    assert reason in caught.value.message
    assert "omit 'after' to read from the beginning" in caught.value.message


def test_cursor_with_one_character_changed_is_refused() -> None:
    cursor = encode_cursor(123456)
    for position in range(len(cursor)):
        replacement = "B" if cursor[position] != "B" else "C"
        with pytest.raises(InvalidCursor):
            decode_cursor(cursor[:position] + replacement + cursor[position + 1 :])
