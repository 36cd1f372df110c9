"""Packs validated events into envelope messages (:mod:`schemas.envelope`).

A message holds at most ``events_per_message`` events and at most
:data:`schemas.envelope.MAX_PAYLOAD_BYTES` of payload, so it always fits under Pub/Sub's 10 MB
limit. Dead-letter messages carry one raw event each, with the reason it was refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from producer.errors import PublishRejected
from producer.validation import InvalidEvent, ValidEvent
from schemas.envelope import MAX_PAYLOAD_BYTES, EncodedMessage, encode_events
from schemas.order_event import SCHEMA_VERSION

DEAD_LETTER_ORIGIN = "producer"
# Pub/Sub limits one attribute value to 1024 bytes.
MAX_ATTRIBUTE_BYTES = 1024


def pack_events(events: Sequence[ValidEvent], events_per_message: int) -> list[EncodedMessage]:
    """Messages carrying ``events`` in order, each within the count and byte budgets."""
    if events_per_message < 1:
        raise ValueError(f"events_per_message must be at least 1, found {events_per_message}")
    messages: list[EncodedMessage] = []
    chunk: list[ValidEvent] = []
    chunk_bytes = 0
    for event in events:
        size = len(event.data)
        if size > MAX_PAYLOAD_BYTES:
            raise PublishRejected(
                f"event source_sequence={event.source_sequence} serialises to {size} bytes, "
                f"over the {MAX_PAYLOAD_BYTES}-byte message budget; it cannot be published"
            )
        # +1 for the newline that joins it to the previous event.
        if chunk and (
            len(chunk) >= events_per_message or chunk_bytes + 1 + size > MAX_PAYLOAD_BYTES
        ):
            messages.append(_encode(chunk))
            chunk, chunk_bytes = [], 0
        chunk_bytes += size + (1 if chunk else 0)
        chunk.append(event)
    if chunk:
        messages.append(_encode(chunk))
    return messages


def _encode(chunk: list[ValidEvent]) -> EncodedMessage:
    return encode_events(
        [event.data for event in chunk], chunk[0].source_sequence, chunk[-1].source_sequence
    )


def _truncate(value: str) -> str:
    encoded = value.encode()
    if len(encoded) <= MAX_ATTRIBUTE_BYTES:
        return value
    return encoded[: MAX_ATTRIBUTE_BYTES - 3].decode(errors="ignore") + "..."


def dead_letter_message(event: InvalidEvent) -> EncodedMessage:
    """The dead-letter message of one refused event: its raw JSON and why it was refused."""
    attributes = {
        "reason": _truncate(event.reason),
        "schema_version": str(SCHEMA_VERSION),
        "origin": DEAD_LETTER_ORIGIN,
        "content_type": "application/json",
    }
    if event.source_sequence is not None:
        attributes["source_sequence"] = str(event.source_sequence)
    if event.event_id is not None:
        attributes["event_id"] = _truncate(event.event_id)
    if len(event.data) > MAX_PAYLOAD_BYTES:
        raise PublishRejected(
            f"refused event source_sequence={event.source_sequence} is {len(event.data)} bytes, "
            f"over the {MAX_PAYLOAD_BYTES}-byte budget; it cannot be dead-lettered either"
        )
    return EncodedMessage(data=event.data, attributes=attributes)
