"""Packs validated events into envelope messages (:mod:`schemas.envelope`).

A message holds at most ``events_per_message`` events and at most
:data:`schemas.envelope.MAX_PAYLOAD_BYTES` of payload, so it always fits under Pub/Sub's 10 MB
limit. Dead-letter messages carry one raw event each, with the reason it was refused (an event
too large for any message is kept as its first 64 KB, with its size and SHA-256).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from producer.errors import PublishRejected
from producer.validation import InvalidEvent, RawEvent
from schemas.envelope import MAX_PAYLOAD_BYTES, Compression, EncodedMessage, encode_events
from schemas.order_event import SCHEMA_VERSION

DEAD_LETTER_ORIGIN = "producer"
# Pub/Sub limits one attribute value to 1024 bytes.
MAX_ATTRIBUTE_BYTES = 1024
TRUNCATED_DEAD_LETTER_BYTES = 64 * 1024
"""Bytes of an event too large for any message that its dead letter keeps."""


def pack_events(
    events: Sequence[RawEvent],
    sequences: Sequence[int],
    events_per_message: int,
    compression: Compression = "none",
) -> list[EncodedMessage]:
    """Messages carrying ``events`` in order, each within the count and byte budgets.

    ``sequences[i]`` is the ``source_sequence`` of ``events[i]``. A message takes as many
    events as fit, in order: ``events_per_message``, fewer when their bytes would not fit
    (the budget is on the JSON Lines before ``compression``).
    """
    if events_per_message < 1:
        raise ValueError(f"events_per_message must be at least 1, found {events_per_message}")
    sizes = list(map(len, events))
    if sizes and max(sizes) > MAX_PAYLOAD_BYTES:
        index = next(i for i, size in enumerate(sizes) if size > MAX_PAYLOAD_BYTES)
        raise PublishRejected(
            f"event source_sequence={sequences[index]} serialises to {sizes[index]} bytes, "
            f"over the {MAX_PAYLOAD_BYTES}-byte message budget; it cannot be published"
        )
    messages: list[EncodedMessage] = []
    start, count = 0, len(events)
    while start < count:
        end = min(start + events_per_message, count)
        # Events are joined by one newline each.
        if sum(sizes[start:end]) + (end - start - 1) > MAX_PAYLOAD_BYTES:
            end, payload = start + 1, sizes[start]
            while end < count and payload + 1 + sizes[end] <= MAX_PAYLOAD_BYTES:
                payload += 1 + sizes[end]
                end += 1
        messages.append(
            encode_events(events[start:end], sequences[start], sequences[end - 1], compression)
        )
        start = end
    return messages


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
    data = event.data
    if len(data) > MAX_PAYLOAD_BYTES:
        # No message can carry it: the dead letter keeps its head, its size and its digest;
        # the whole event stays in the source database at its source_sequence.
        attributes["truncated"] = "true"
        attributes["original_bytes"] = str(len(data))
        attributes["sha256"] = hashlib.sha256(data).hexdigest()
        data = data[:TRUNCATED_DEAD_LETTER_BYTES]
    return EncodedMessage(data=data, attributes=attributes)
