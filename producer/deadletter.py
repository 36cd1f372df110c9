"""``olist deadletter``: inspect, count, replay and purge the dead-letter subscription.

Two kinds of message land on the dead-letter topic, and both are handled here:

- **refused events**, published by the producer (attribute ``origin=producer``): one event's
  raw JSON with the ``reason`` it was refused (and ``truncated=true`` when the event was too
  large for any message: only its head is there, the row stays in PostgreSQL);
- **forwarded messages**: envelopes of many events that Pub/Sub moved there after
  ``OLIST_PUBSUB_MAX_DELIVERY_ATTEMPTS`` deliveries without an acknowledgement (their original
  attributes are kept; the real service adds ``CloudPubSubDeadLetter*`` ones).

Reading never consumes: inspected and counted messages are released (``modifyAckDeadline 0``)
so they stay for the next look; the dead-letter subscription has no dead-letter policy, so
releases cost nothing. ``replay`` publishes each message back to the events topic and
acknowledges it only after Pub/Sub confirmed the publish, so a crash replays a message at most
twice, and the stream loads it once: replayed events keep their ``event_id``. Refused events are
checked again before they are replayed (``producer.validation``, i.e. after the fix was
deployed); those that still fail stay where they are, as do truncated ones. ``purge``
acknowledges everything, after an explicit confirmation.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from google.cloud import pubsub_v1

from producer.packing import DEAD_LETTER_ORIGIN
from producer.settings import PubSubSettings
from producer.validation import validate_events
from schemas.envelope import ATTRIBUTE_EVENT_COUNT, encode_events

log = logging.getLogger(__name__)

PULL_BATCH = 50
PUBLISH_TIMEOUT_SECONDS = 60.0
FORWARDING_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"
"""Attributes the real service adds to a forwarded message; a replay drops them."""

Kind = Literal["refused", "forwarded", "unknown"]


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter subscription, as read (not yet acknowledged)."""

    ack_id: str
    message_id: str
    data: bytes
    attributes: dict[str, str]

    @property
    def kind(self) -> Kind:
        if self.attributes.get("origin") == DEAD_LETTER_ORIGIN:
            return "refused"
        if ATTRIBUTE_EVENT_COUNT in self.attributes:
            return "forwarded"
        return "unknown"

    @property
    def reason(self) -> str:
        """Why it is here: the producer's reason, or the forwarding by Pub/Sub."""
        if self.kind == "refused":
            return self.attributes.get("reason", "(no reason attribute)")
        if self.kind == "forwarded":
            return "delivered too many times without an acknowledgement (forwarded by Pub/Sub)"
        return "not a message of this pipeline (no origin=producer, no envelope attributes)"

    def summary(self) -> dict[str, str | int]:
        """What ``inspect`` prints for it."""
        shown: dict[str, str | int] = {
            "message_id": self.message_id,
            "kind": self.kind,
            "reason": self.reason,
            "bytes": len(self.data),
        }
        for name in ("source_sequence", "event_id", "event_count", "first_sequence",
                     "last_sequence", "truncated", "original_bytes"):  # fmt: skip
            if name in self.attributes:
                shown[name] = self.attributes[name]
        return shown


@dataclass
class ReplayReport:
    """What ``replay`` did, by outcome."""

    replayed: int = 0
    events_replayed: int = 0
    still_invalid: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class DeadLetterSubscription:
    """The dead-letter subscription of ``settings``; use as a context manager."""

    def __init__(self, settings: PubSubSettings) -> None:
        self.settings = settings
        self.path = settings.dead_letter_subscription_path()
        self._subscriber = pubsub_v1.SubscriberClient()
        self._publisher: pubsub_v1.PublisherClient | None = None

    def __enter__(self) -> DeadLetterSubscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._subscriber.close()

    def _pull(self) -> list[DeadLetter]:
        with warnings.catch_warnings():
            # return_immediately is deprecated but is the only way to learn "empty" at once.
            warnings.simplefilter("ignore", DeprecationWarning)
            response = self._subscriber.pull(
                request={
                    "subscription": self.path,
                    "max_messages": PULL_BATCH,
                    "return_immediately": True,
                },
                timeout=60,
            )
        return [
            DeadLetter(
                received.ack_id,
                received.message.message_id,
                bytes(received.message.data),
                dict(received.message.attributes),
            )
            for received in response.received_messages
        ]

    def _release(self, letters: list[DeadLetter]) -> None:
        if letters:
            self._subscriber.modify_ack_deadline(
                subscription=self.path,
                ack_ids=[letter.ack_id for letter in letters],
                ack_deadline_seconds=0,
            )

    def _acknowledge(self, letters: list[DeadLetter]) -> None:
        if letters:
            self._subscriber.acknowledge(
                subscription=self.path, ack_ids=[letter.ack_id for letter in letters]
            )

    def _read_all(self, limit: int | None) -> Iterator[list[DeadLetter]]:
        """Batches until the subscription answers empty (or ``limit`` messages were read).

        Messages read stay leased until the caller acknowledges or releases them, so one pass
        never sees a message twice.
        """
        read = 0
        while limit is None or read < limit:
            batch = self._pull()
            if not batch:
                return
            if limit is not None and read + len(batch) > limit:
                self._release(batch[limit - read :])
                batch = batch[: limit - read]
            read += len(batch)
            yield batch

    def inspect(self, limit: int = 20) -> list[DeadLetter]:
        """Up to ``limit`` messages, left in the subscription."""
        letters = [letter for batch in self._read_all(limit) for letter in batch]
        self._release(letters)
        return letters

    def count_by_reason(self, limit: int | None = None) -> Counter[str]:
        """How many messages per reason (reads every message; leaves them all)."""
        counts: Counter[str] = Counter()
        leased: list[DeadLetter] = []
        try:
            for batch in self._read_all(limit):
                leased.extend(batch)
                counts.update(letter.reason for letter in batch)
        finally:
            self._release(leased)
        return counts

    def purge(self) -> int:
        """Acknowledge every message; returns how many."""
        purged = 0
        for batch in self._read_all(None):
            self._acknowledge(batch)
            purged += len(batch)
        log.warning("dead letters purged subscription=%s messages=%d", self.path, purged)
        return purged

    def replay(self, limit: int | None = None) -> ReplayReport:
        """Publish replayable messages to the events topic; acknowledge them once confirmed."""
        report = ReplayReport()
        kept: list[DeadLetter] = []
        try:
            for batch in self._read_all(limit):
                done: list[DeadLetter] = []
                for letter in batch:
                    if self._replay_one(letter, report):
                        done.append(letter)
                    else:
                        kept.append(letter)
                self._acknowledge(done)
        finally:
            self._release(kept)
        return report

    def _replay_one(self, letter: DeadLetter, report: ReplayReport) -> bool:
        if letter.kind == "unknown":
            report.unknown.append(letter.message_id)
            return False
        if letter.kind == "refused":
            if letter.attributes.get("truncated") == "true":
                report.truncated.append(letter.message_id)
                return False
            checked = validate_events([letter.data])
            if checked.invalid:
                report.still_invalid.append(letter.message_id)
                return False
            sequence = checked.sequences[0]
            message = encode_events([letter.data], sequence, sequence)
            data, attributes, events = message.data, message.attributes, 1
        else:
            data = letter.data
            attributes = {
                name: value
                for name, value in letter.attributes.items()
                if not name.startswith(FORWARDING_ATTRIBUTE_PREFIX)
            }
            count = attributes.get(ATTRIBUTE_EVENT_COUNT, "")
            events = int(count) if count.isascii() and count.isdigit() else 1
        if self._publisher is None:
            self._publisher = pubsub_v1.PublisherClient()
        future = self._publisher.publish(self.settings.topic_path(), data, **attributes)
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        report.replayed += 1
        report.events_replayed += events
        log.info(
            "dead letter replayed message_id=%s kind=%s events=%d topic=%s",
            letter.message_id,
            letter.kind,
            events,
            self.settings.topic_path(),
        )
        return True
