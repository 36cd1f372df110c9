"""Opaque page cursors: encode and decode the position of a client in the event feed.

A cursor is the URL-safe base64 (no padding) of 13 bytes: a version byte, the last
``source_sequence`` served (unsigned 64-bit, big endian) and the first 4 bytes of a BLAKE2b
digest of the first 9. The digest catches cursors that were truncated, hand-edited or mixed up
with other tokens; it is not a signature, because a cursor grants nothing a client could not get
by omitting ``after`` and paging from the start.

Clients must treat cursors as opaque strings and store them verbatim; the format may change
under a new version byte, and this module then keeps decoding the old versions it still accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from source_api.errors import InvalidCursor

CURSOR_VERSION = 1
"""Version byte of the cursors this API issues."""

_LAYOUT = struct.Struct(">BQ")  # version, last source_sequence
_DIGEST_SIZE = 4
_CURSOR_SIZE = _LAYOUT.size + _DIGEST_SIZE
_MAX_SEQUENCE = 2**63 - 1  # PostgreSQL bigint
_ACCEPTED = (
    "expected the next_cursor value of a previous /v1/order-events response, passed back "
    "unchanged; omit 'after' to read from the beginning"
)


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_DIGEST_SIZE, person=b"olist-cursor").digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def encode_cursor(last_sequence: int) -> str:
    """The cursor meaning "everything after ``last_sequence``" (0 is the start of the feed)."""
    if not 0 <= last_sequence <= _MAX_SEQUENCE:
        raise ValueError(f"source_sequence must be in 0..{_MAX_SEQUENCE}, got {last_sequence}")
    payload = _LAYOUT.pack(CURSOR_VERSION, last_sequence)
    return _encode(payload + _digest(payload))


START_CURSOR = encode_cursor(0)
"""The cursor of the beginning of the feed (what ``after`` omitted means)."""


def decode_cursor(cursor: str) -> int:
    """The last ``source_sequence`` a cursor points after.

    Raises :class:`InvalidCursor` naming what is wrong: not base64, wrong length, unsupported
    version or checksum mismatch.
    """
    shown = cursor if len(cursor) <= 40 else cursor[:40] + "..."
    if not cursor:
        raise InvalidCursor(f"cursor 'after' is empty; {_ACCEPTED}")
    try:
        # validate=True: the lenient default silently drops characters outside the alphabet.
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor(
            f"cursor {shown!r} is not URL-safe base64 ({error}); {_ACCEPTED}"
        ) from error
    if len(raw) != _CURSOR_SIZE:
        raise InvalidCursor(
            f"cursor {shown!r} decodes to {len(raw)} bytes, a version {CURSOR_VERSION} cursor "
            f"has {_CURSOR_SIZE}; {_ACCEPTED}"
        )
    payload, digest = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    version: int
    last_sequence: int
    version, last_sequence = _LAYOUT.unpack(payload)
    if version != CURSOR_VERSION:
        raise InvalidCursor(
            f"cursor {shown!r} has version {version}, this API accepts version "
            f"{CURSOR_VERSION} only; {_ACCEPTED}"
        )
    if digest != _digest(payload):
        raise InvalidCursor(
            f"cursor {shown!r} fails its checksum: it was altered or truncated; {_ACCEPTED}"
        )
    if _encode(raw) != cursor:
        # Base64 leaves spare bits in the last character and has two alphabets; only the one
        # spelling this API issues is accepted, so an edited cursor never decodes silently.
        raise InvalidCursor(
            f"cursor {shown!r} is not spelled as this API issues it: it was altered; {_ACCEPTED}"
        )
    if last_sequence > _MAX_SEQUENCE:
        raise InvalidCursor(
            f"cursor {shown!r} points after source_sequence {last_sequence}, beyond the "
            f"largest possible {_MAX_SEQUENCE}; {_ACCEPTED}"
        )
    return last_sequence
