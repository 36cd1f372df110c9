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
======================  ==============================================================

The producer writes it (:func:`encode_events`), the Spark source unpacks it
(:func:`split_events`); neither imports the other, both import this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.order_event import SCHEMA_VERSION

ENVELOPE_VERSION = "1"
CONTENT_TYPE = "application/x-ndjson"

ATTRIBUTE_ENVELOPE_VERSION = "envelope_version"
ATTRIBUTE_SCHEMA_VERSION = "schema_version"
ATTRIBUTE_CONTENT_TYPE = "content_type"
ATTRIBUTE_EVENT_COUNT = "event_count"
ATTRIBUTE_FIRST_SEQUENCE = "first_sequence"
ATTRIBUTE_LAST_SEQUENCE = "last_sequence"

MAX_MESSAGE_BYTES = 10_000_000
"""Pub/Sub's limit on one message (data plus attributes), in bytes."""

MAX_PAYLOAD_BYTES = 9_500_000
"""Payload budget the producer packs to: leaves room for attributes and request framing."""


class EnvelopeError(ValueError):
    """A message does not follow the envelope format; the message says which rule it breaks."""


@dataclass(frozen=True)
class EncodedMessage:
    """One Pub/Sub message ready to publish."""

    data: bytes
    attributes: dict[str, str]


def encode_events(
    events: Sequence[bytes], first_sequence: int, last_sequence: int
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
    return EncodedMessage(
        data=data,
        attributes={
            ATTRIBUTE_ENVELOPE_VERSION: ENVELOPE_VERSION,
            ATTRIBUTE_SCHEMA_VERSION: str(SCHEMA_VERSION),
            ATTRIBUTE_CONTENT_TYPE: CONTENT_TYPE,
            ATTRIBUTE_EVENT_COUNT: str(len(events)),
            ATTRIBUTE_FIRST_SEQUENCE: str(first_sequence),
            ATTRIBUTE_LAST_SEQUENCE: str(last_sequence),
        },
    )


def is_packed(attributes: Mapping[str, str]) -> bool:
    """Whether a message declares the JSON Lines envelope (else it is one opaque payload)."""
    return attributes.get(ATTRIBUTE_CONTENT_TYPE) == CONTENT_TYPE


def split_events(data: bytes, attributes: Mapping[str, str]) -> list[bytes]:
    """The raw JSON of each event in a message, in order.

    A message without the envelope's content type is returned whole as one payload, so a
    consumer can still reject it with its raw bytes. A packed message whose line count
    disagrees with ``event_count`` raises :class:`EnvelopeError`.
    """
    if not is_packed(attributes):
        return [data]
    events = [line for line in data.split(b"\n") if line.strip()]
    declared = attributes.get(ATTRIBUTE_EVENT_COUNT)
    if declared is not None and declared != str(len(events)):
        raise EnvelopeError(
            f"message declares event_count={declared} but carries {len(events)} events"
        )
    return events
