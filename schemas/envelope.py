"""The Pub/Sub message envelope: how events are packed into messages and read back.

A message carries 1..N events as JSON Lines (one event object per line, UTF-8, ``\\n``
separated, no trailing newline). Its attributes describe the batch without opening it:

======================  ==============================================================
``envelope_version``    version of this envelope format (``"1"``)
``schema_version``      :data:`schemas.order_event.SCHEMA_VERSION` of every event inside
``content_type``        ``application/x-ndjson``
``event_count``         number of events (lines) in the payload
``first_sequence``      ``source_sequence`` of the first event
``last_sequence``       ``source_sequence`` of the last event
``content_encoding``    ``zstd`` when the payload is compressed (absent: plain JSON Lines)
``uncompressed_bytes``  size of the JSON Lines once decompressed (with ``zstd`` only)
======================  ==============================================================

Compression (``zstd``, a standard Zstandard frame any zstd library reads) is the producer's
default: order events compress well for little CPU per event (figures:
docs/design/producer.md#measurements), and Pub/Sub bills, limits and transfers compressed
bytes. The JSON Lines inside never exceed :data:`MAX_PAYLOAD_BYTES`,
which also bounds what a consumer agrees to decompress.

The producer writes it (:func:`encode_events`), the Spark source unpacks it
(:func:`split_events`); neither imports the other, both import this module.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from schemas.order_event import SCHEMA_VERSION

if TYPE_CHECKING:
    import pyarrow as pa

ENVELOPE_VERSION = "1"
CONTENT_TYPE = "application/x-ndjson"

ATTRIBUTE_ENVELOPE_VERSION = "envelope_version"
ATTRIBUTE_SCHEMA_VERSION = "schema_version"
ATTRIBUTE_CONTENT_TYPE = "content_type"
ATTRIBUTE_EVENT_COUNT = "event_count"
ATTRIBUTE_FIRST_SEQUENCE = "first_sequence"
ATTRIBUTE_LAST_SEQUENCE = "last_sequence"
ATTRIBUTE_CONTENT_ENCODING = "content_encoding"
ATTRIBUTE_UNCOMPRESSED_BYTES = "uncompressed_bytes"

Compression = Literal["zstd", "none"]
ZSTD: Final = "zstd"

MAX_MESSAGE_BYTES = 10_000_000
"""Pub/Sub's limit on one message (data plus attributes), in bytes."""

MAX_PAYLOAD_BYTES = 9_500_000
"""Payload budget the producer packs to: leaves room for attributes and request framing."""


class EnvelopeError(ValueError):
    """A message does not follow the envelope format; the message says which rule it breaks."""


def attribute_count(value: str | None) -> int | None:
    """A count attribute (``event_count``, ``uncompressed_bytes``) as an int, or ``None``.

    Only ASCII digits, at most :data:`MAX_PAYLOAD_BYTES`: ``str.isdigit`` also accepts ``"²"``
    (which ``int`` refuses), and a count beyond the payload budget cannot be true (each event
    or byte takes at least one byte) and would overflow the int32 row counts of the source.
    """
    if value is None or not value.isascii() or not value.isdigit():
        return None
    count = int(value)
    return count if count <= MAX_PAYLOAD_BYTES else None


@dataclass(frozen=True)
class EncodedMessage:
    """One Pub/Sub message ready to publish."""

    data: bytes
    attributes: dict[str, str]


def encode_events(
    events: Sequence[bytes],
    first_sequence: int,
    last_sequence: int,
    compression: Compression = "none",
) -> EncodedMessage:
    """Pack already-serialised JSON events (one object each, no newline inside) into a message."""
    if not events:
        raise EnvelopeError("a message needs at least one event")
    data = b"\n".join(events)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise EnvelopeError(
            f"payload of {len(data)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte budget: "
            "pack fewer events per message"
        )
    attributes = {
        ATTRIBUTE_ENVELOPE_VERSION: ENVELOPE_VERSION,
        ATTRIBUTE_SCHEMA_VERSION: str(SCHEMA_VERSION),
        ATTRIBUTE_CONTENT_TYPE: CONTENT_TYPE,
        ATTRIBUTE_EVENT_COUNT: str(len(events)),
        ATTRIBUTE_FIRST_SEQUENCE: str(first_sequence),
        ATTRIBUTE_LAST_SEQUENCE: str(last_sequence),
    }
    if compression == ZSTD:
        attributes[ATTRIBUTE_CONTENT_ENCODING] = ZSTD
        attributes[ATTRIBUTE_UNCOMPRESSED_BYTES] = str(len(data))
        data = _zstd_codec().compress(data, asbytes=True)
    elif compression != "none":
        raise EnvelopeError(f"unknown compression {compression!r}; use 'zstd' or 'none'")
    return EncodedMessage(data=data, attributes=attributes)


@functools.cache
def _zstd_codec() -> pa.Codec:
    # pyarrow is imported on first use: the producer's settings read this module's limits, and
    # the `olist` command line loads them in every role, the API's too, which has no pyarrow.
    import pyarrow as pa

    return pa.Codec(ZSTD)


def decoded_payload(data: bytes, attributes: Mapping[str, str]) -> bytes:
    """The JSON Lines of a message: ``data`` itself, or decompressed per ``content_encoding``."""
    encoding = attributes.get(ATTRIBUTE_CONTENT_ENCODING)
    if encoding is None or encoding == "identity":
        return data
    if encoding != ZSTD:
        raise EnvelopeError(f"unknown content_encoding {encoding!r} (this reader knows zstd)")
    declared = attributes.get(ATTRIBUTE_UNCOMPRESSED_BYTES, "")
    size = attribute_count(declared)
    if size is None or size == 0:
        raise EnvelopeError(
            f"zstd message needs uncompressed_bytes between 1 and {MAX_PAYLOAD_BYTES}, "
            f"found {declared!r}"
        )
    import pyarrow as pa

    try:
        payload = _zstd_codec().decompress(data, decompressed_size=size, asbytes=True)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise EnvelopeError(f"zstd payload cannot be decompressed: {error}") from error
    if len(payload) != size:
        raise EnvelopeError(
            f"zstd payload decompressed to {len(payload)} bytes, uncompressed_bytes={declared}"
        )
    return payload


def is_packed(attributes: Mapping[str, str]) -> bool:
    """Whether a message declares the JSON Lines envelope (else it is one opaque payload)."""
    return attributes.get(ATTRIBUTE_CONTENT_TYPE) == CONTENT_TYPE


def split_events(data: bytes, attributes: Mapping[str, str]) -> list[bytes]:
    """The raw JSON of each event in a message, in order.

    A message without the envelope's content type is returned whole as one payload, so a
    consumer can still reject it with its raw bytes. A packed message whose line count
    disagrees with ``event_count``, or whose compressed payload cannot be decompressed,
    raises :class:`EnvelopeError`.
    """
    if not is_packed(attributes):
        return [data]
    version = attributes.get(ATTRIBUTE_ENVELOPE_VERSION)
    if version is not None and version != ENVELOPE_VERSION:
        raise EnvelopeError(
            f"unknown envelope_version {version!r} (this reader knows version {ENVELOPE_VERSION})"
        )
    payload = decoded_payload(data, attributes)
    events = [line for line in payload.split(b"\n") if line.strip()]
    declared = attributes.get(ATTRIBUTE_EVENT_COUNT)
    if declared is not None and attribute_count(declared) != len(events):
        raise EnvelopeError(
            f"message declares event_count={declared} but carries {len(events)} events"
        )
    return events
