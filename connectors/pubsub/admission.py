"""Pull admission: how much to pull next, and which pulled messages the next batch takes.

Everything here runs on the driver, in the long-lived Python process Spark keeps per query,
called by :class:`~connectors.pubsub.reader.PubSubStreamReader` while it stages a batch.
A pull asks Pub/Sub for a number of messages, not rows nor bytes, so a round may bring more
than the read limit admits: the rest waits in memory, leased, for the next batch.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from connectors.pubsub.leases import LeaseKeeper
from connectors.pubsub.options import PubSubOptions
from connectors.pubsub.records import expected_rows
from connectors.pubsub.subscriber import ReceivedMessage, Subscriber

PENDING = "pending"
"""Lease group of messages pulled beyond the read limit, held in memory for the next batch."""

PULL_ROUND_BYTES = 64 * 1024 * 1024
"""About how many payload bytes one round of concurrent pulls may bring into memory.

A pull asks for a number of messages, not bytes; with 1,000 messages of 1 MB each a round
of 8 pulls would hold 8 GB. Each round asks for as many messages as fit this budget at the
average size seen so far (the first round, blind, asks for few)."""
FIRST_ROUND_MESSAGES_PER_PULL = 50


@dataclass
class _Pulled:
    message: ReceivedMessage
    rows: int
    bytes: int
    """Payload bytes as pulled (compressed, for a compressed envelope): what staging writes."""


class PullAdmission:
    """The pending buffer of pulled messages, and the rounds of pulls that fill it.

    :meth:`pull_round` runs ``pullConcurrency`` pulls at once on a thread pool, each asking
    for ``pullMaxMessages`` at most, fewer so that the round holds about
    :data:`PULL_ROUND_BYTES` of payloads, fewer still so that it brings no more messages than
    the batch has room for. Pulled messages are leased under the group :data:`PENDING` at once
    (the subscription's own deadline may be as short as 10 s) and wait, in pull order, until
    :meth:`admit` hands them to a batch. With an available-now cutoff, messages published
    after it are kept too (see :meth:`pull_round`).

    Not thread-safe: the reader calls it under its lock; the pull threads only call
    :meth:`Subscriber.pull`.
    """

    def __init__(self, subscriber: Subscriber, leases: LeaseKeeper, options: PubSubOptions):
        self.subscriber = subscriber
        self.leases = leases
        self.options = options
        self._pending: deque[_Pulled] = deque()
        self._message_bytes: float | None = None
        self._pull_pool: ThreadPoolExecutor | None = None

    @property
    def has_pending(self) -> bool:
        """Whether pulled messages wait for a batch."""
        return bool(self._pending)

    def admit(
        self, max_rows: int | None, batch_rows: int, batch_messages: int, batch_bytes: int = 0
    ) -> tuple[list[ReceivedMessage], int, int]:
        """Pending messages for a batch that holds ``batch_rows`` rows of ``batch_messages``.

        Whole messages are taken, in pull order, while the batch stays within ``max_rows``
        and, with a row limit, within ``maxBytesPerTrigger`` payload bytes (``batch_bytes``
        so far; ``max_rows=None``: no limit at all); a batch's first message is taken
        whatever its size, so a message bigger than a limit still makes progress, in a batch
        of its own. Returns the ``ReceivedMessage`` protobufs taken, the rows they will
        yield and their payload bytes.
        """
        taken: list[ReceivedMessage] = []
        rows = payload_bytes = 0
        max_bytes = self.options.max_bytes_per_trigger
        while self._pending and (
            max_rows is None
            or batch_messages + len(taken) == 0
            or (
                batch_rows + rows + self._pending[0].rows <= max_rows
                and batch_bytes + payload_bytes + self._pending[0].bytes <= max_bytes
            )
        ):
            pulled = self._pending.popleft()
            taken.append(pulled.message)
            rows += pulled.rows
            payload_bytes += pulled.bytes
        return taken, rows, payload_bytes

    def pull_round(self, room: int | None, cutoff: float | None) -> int:
        """One round of concurrent pulls into the pending buffer; returns how many it added.

        ``room`` bounds the messages (each is >= 1 row). With ``cutoff`` (a publish time in
        seconds, available-now only) only messages published up to it are counted: the round
        brought nothing of the run's target when it returns 0. Messages published after it
        are kept all the same, to be staged with the run: handing them back (a nack) would
        count a delivery attempt against the subscription's dead-letter policy each time a
        later round pulled them again.
        """
        per_pull = self.options.pull_max_messages
        pulls = self.options.pull_concurrency
        if self._message_bytes is None:
            per_pull = min(per_pull, FIRST_ROUND_MESSAGES_PER_PULL)
        else:
            fits = int(PULL_ROUND_BYTES // (pulls * max(self._message_bytes, 1.0)))
            per_pull = max(1, min(per_pull, fits))
        if room is not None:
            per_pull = max(1, min(per_pull, room))
            pulls = max(1, min(pulls, -(-room // per_pull)))
        if self._pull_pool is None:
            self._pull_pool = ThreadPoolExecutor(
                max_workers=self.options.pull_concurrency, thread_name_prefix="pubsub-pull"
            )
        wait, timeout = self.options.pull_wait_seconds, self.options.pull_timeout_seconds
        results = self._pull_pool.map(
            lambda _: self.subscriber.pull(per_pull, wait, timeout), range(pulls)
        )
        received = [message for result in results for message in result]
        if not received:
            return 0
        self._message_bytes = sum(len(m.message.data) for m in received) / len(received)
        # Extend right away: the subscription's own deadline may be as short as 10 s.
        self.leases.hold(PENDING, [message.ack_id for message in received])
        unpack = self.options.unpack
        self._pending.extend(
            _Pulled(
                m,
                expected_rows(m.message.data, m.message.attributes, unpack),
                len(m.message.data),
            )
            for m in received
        )
        if cutoff is None:
            return len(received)
        return sum(1 for m in received if _publish_seconds(m) <= cutoff)

    def hold_pending(self) -> None:
        """Make the pending messages the whole lease group :data:`PENDING` (after staging)."""
        self.leases.replace(PENDING, [pulled.message.ack_id for pulled in self._pending])

    def stop(self) -> None:
        """Hand the pending messages back to Pub/Sub and stop the pull threads."""
        if self._pending:
            self.subscriber.release([pulled.message.ack_id for pulled in self._pending])
            self._pending.clear()
        if self._pull_pool is not None:
            self._pull_pool.shutdown(wait=True)
            self._pull_pool = None


def _publish_seconds(received: ReceivedMessage) -> float:
    return received.message.publish_time.seconds + received.message.publish_time.nanos / 1e9
