"""The lease keeper: extends the ack deadlines of messages the source holds but has not acked.

Runs on the driver, in the long-lived Python process Spark keeps per query: a daemon thread
sends ``modifyAckDeadline`` for every held group through the :class:`Subscriber`, so messages
pulled and staged (or held in memory for the next batch) are not redelivered while Spark works
on them. A lapsed lease costs a redelivery, a duplicate downstream, never a loss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from connectors.pubsub.errors import SubscriberError
from connectors.pubsub.subscriber import Subscriber

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Background thread that keeps extending the leases of staged, unacknowledged messages.

    Leases are grouped by a key (a staged batch number, or a name for messages held in
    memory). Every ``ack_deadline_seconds / 3`` each message held for less than
    ``max_lease_seconds`` gets its deadline pushed to ``ack_deadline_seconds`` again; older
    ones are dropped with a warning and Pub/Sub redelivers them when the lease runs out.
    A message's time is counted from when it was first held, whatever group it moves to
    (pulled into memory, then staged): replacing a group does not make its messages older
    or younger. The thread dies with the driver's Python process; Pub/Sub then redelivers
    on its own.
    """

    def __init__(
        self,
        subscriber: Subscriber,
        ack_deadline_seconds: int,
        max_lease_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.subscriber = subscriber
        self.clock = clock
        self.ack_deadline_seconds = ack_deadline_seconds
        self.max_lease_seconds = max_lease_seconds
        self.interval_seconds = ack_deadline_seconds / 3
        self.failures = 0
        self._leases: dict[object, dict[str, float]] = {}
        """Group key -> {ack id: when it was first held}, in the order they were added."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, key: object, ack_ids: Sequence[str], extend_now: bool = True) -> None:
        """Keep extending ``ack_ids`` (now too, unless ``extend_now`` is false) under ``key``."""
        if not ack_ids:
            return
        if extend_now:
            self.subscriber.modify_ack_deadline(ack_ids, self.ack_deadline_seconds)
        now = self.clock()
        with self._lock:
            group = self._leases.setdefault(key, {})
            for ack_id in ack_ids:
                group.setdefault(ack_id, now)
        self._ensure_started()

    def move(self, source: object, target: object, ack_ids: Sequence[str]) -> None:
        """Hold ``ack_ids`` under ``target`` instead of ``source``, keeping when each started.

        Ids ``source`` does not hold start now (no request: the caller extended them).
        """
        if not ack_ids:
            return
        now = self.clock()
        with self._lock:
            moved = self._leases.get(source, {})
            group = self._leases.setdefault(target, {})
            for ack_id in ack_ids:
                group[ack_id] = moved.pop(ack_id, group.get(ack_id, now))
            if source in self._leases and not moved:
                del self._leases[source]
        self._ensure_started()

    def replace(self, key: object, ack_ids: Sequence[str]) -> None:
        """Make ``ack_ids`` the whole group ``key`` (no request; they are already extended).

        Ids the group held keep their start time; new ones start now.
        """
        now = self.clock()
        with self._lock:
            if not ack_ids:
                self._leases.pop(key, None)
                return
            previous = self._leases.get(key, {})
            self._leases[key] = {ack_id: previous.get(ack_id, now) for ack_id in ack_ids}
        self._ensure_started()

    def drop(self, key: object) -> list[str]:
        """Stop extending the group ``key``; returns its ack ids (empty if unknown)."""
        with self._lock:
            return list(self._leases.pop(key, {}))

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_seconds + 5)
            self._thread = None

    def renew_once(self) -> None:
        """Extend every message still within its maximum lease (the thread calls this)."""
        now = self.clock()
        with self._lock:
            groups = [(key, dict(group)) for key, group in self._leases.items()]
        for key, group in groups:
            expired = {
                ack_id
                for ack_id, started in group.items()
                if now - started > self.max_lease_seconds
            }
            if expired:
                log.warning(
                    "pubsub lease given up key=%s messages=%d held_seconds=%.0f "
                    "max_lease_seconds=%d: they will be redelivered",
                    key,
                    len(expired),
                    now - min(group[ack_id] for ack_id in expired),
                    self.max_lease_seconds,
                )
                with self._lock:
                    held = self._leases.get(key, {})
                    for ack_id in expired:
                        held.pop(ack_id, None)
                    if key in self._leases and not held:
                        del self._leases[key]
            live = [ack_id for ack_id in group if ack_id not in expired]
            if live:
                self.subscriber.modify_ack_deadline(live, self.ack_deadline_seconds)

    def _ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="pubsub-lease-keeper", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_seconds):
            try:
                self.renew_once()
            except SubscriberError as error:
                # Not fatal: a lapsed lease means a redelivery (a duplicate), never a loss.
                self.failures += 1
                log.error("pubsub lease renewal failed failures=%d error=%s", self.failures, error)
