"""Offered load for end-to-end benchmarks: new orders committed into PostgreSQL at a set rate.

The write path is the order simulator's (:class:`source_db.synthetic.simulator.OrderWriter`:
orders built in bulk with numpy, written ``created`` with their items and payments by binary
COPY in one transaction), the fastest real write path the source has; the feed's triggers
render every item's event at COMMIT, as for any writer. The rate is counted in events (order
items), not orders: every ``tick_seconds`` the orders needed to bring the items committed up to
``rate x elapsed`` are written, in transactions of at most ``max_orders_per_transaction``
orders; ticks are scheduled from the start, so the rate does not drift, and a writer that falls
behind catches up in larger transactions (what it achieved is reported, not assumed).

Every commit is recorded (:class:`Commit`: wall-clock time after COMMIT returned, the last
``source_sequence`` it drew, its items), so a benchmark can tell each event's commit time from
its ``source_sequence``: sequences are drawn under the feed's advisory lock, so a transaction's
items hold the range after the previous commit's last sequence.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from dataclasses import dataclass, field

import asyncpg
import numpy as np

from bench.source_data import mean_items_per_order
from source_db.connection import connect
from source_db.synthetic.simulator import OrderWriter
from source_db.synthetic.values import local_from_utc_us

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1
MAX_ORDERS_PER_TRANSACTION = 2_000
COMMIT_TIMEOUT_SECONDS = 120.0
"""Longest write of one transaction: one whose render went wrong fails the run (asyncpg
cancels the backend's COMMIT) instead of holding a backend for half an hour.
``statement_timeout`` cannot do it: PostgreSQL disarms it before the deferred triggers run at
COMMIT (seen: a 7-minute COMMIT under a 120 s ``statement_timeout``)."""
CLOSE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Commit:
    """One committed transaction of the offered load."""

    committed_at: float
    """Wall-clock time (``time.time()``) when COMMIT returned."""
    last_sequence: int
    items: int


@dataclass
class CommitLog:
    """Every commit of the offered load, in commit (and so sequence) order."""

    commits: list[Commit] = field(default_factory=list)
    _last_sequences: list[int] = field(default_factory=list)

    def add(self, commit: Commit) -> None:
        self.commits.append(commit)
        self._last_sequences.append(commit.last_sequence)

    def committed_at(self, source_sequence: int) -> float | None:
        """Commit time of the event with ``source_sequence``; ``None`` if not ours."""
        index = bisect.bisect_left(self._last_sequences, source_sequence)
        if index == len(self.commits):
            return None
        commit = self.commits[index]
        if source_sequence <= commit.last_sequence - commit.items:
            return None  # in a gap: a transaction not written by this load
        return commit.committed_at

    @property
    def items(self) -> int:
        return sum(commit.items for commit in self.commits)

    @property
    def last_sequence(self) -> int:
        return self._last_sequences[-1] if self._last_sequences else 0


@dataclass(frozen=True)
class LoadWindow:
    """What one run of the offered load achieved."""

    target_events_per_second: float
    started_at: float
    seconds: float
    events: int
    transactions: int
    first_sequence: int
    last_sequence: int
    backend_cpu_seconds: float
    """CPU of the writer's PostgreSQL backend: COPY, the triggers and the render at COMMIT."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class OfferedLoad:
    """A writer of new orders on one connection; :meth:`run` offers a rate for a while."""

    def __init__(self, dsn: str, seed: int = 11) -> None:
        self.dsn = dsn
        self.rng = np.random.default_rng(seed)
        self.log = CommitLog()
        self.items_per_order = mean_items_per_order()
        self._connection: asyncpg.Connection | None = None
        self._writer: OrderWriter | None = None

    async def open(self) -> None:
        """Connect; read (or create) the catalogue and customers orders are drawn from."""
        self._connection = await connect(self.dsn)
        self._writer = await OrderWriter.load(self._connection, self.rng)

    async def close(self) -> None:
        """Close the connection; a backend still busy (interrupted mid-COMMIT) is cut off."""
        if self._connection is not None:
            # asyncpg terminates the connection when the graceful close runs out of time.
            await self._connection.close(timeout=CLOSE_TIMEOUT_SECONDS)
            self._connection = None

    async def analyze(self) -> None:
        """``ANALYZE`` the whole database, as autovacuum's analyse eventually does."""
        assert self._connection is not None, "open() first"
        await self._connection.execute("ANALYZE")

    def backend_pid(self) -> int:
        assert self._connection is not None, "open() first"
        return int(self._connection.get_server_pid())

    async def write(self, orders: int) -> int:
        """Write ``orders`` new orders in one transaction and record the commit; items."""
        assert self._writer is not None and self._connection is not None, "open() first"
        now_us = local_from_utc_us(time.time_ns() // 1000)
        batch = await asyncio.wait_for(
            self._writer.insert(self._connection, self.rng, orders, now_us=now_us),
            COMMIT_TIMEOUT_SECONDS,
        )
        committed_at = time.time()
        # Drawn in this session: the last sequence of the transaction just committed.
        last = await self._connection.fetchval("SELECT currval('olist.order_item_source_sequence')")
        self.log.add(Commit(committed_at, int(last), batch.items))
        return int(batch.items)

    async def feed_cost(self, events: int) -> dict[str, float]:
        """Backend CPU per event writing ``events`` events three ways: committed with the feed
        (as :meth:`run` does); rolled back with every trigger off (``insert_without_feed``: no
        foreign-key checks either); rolled back with the foreign-key checks on and the feed's
        triggers idle (``insert_with_checks``: ``olist.publishing_versions`` set, so they record
        nothing and no flush runs). ``feed_render`` is the first minus the second (the figure
        the README has quoted since the feed renders at COMMIT), ``feed_only`` the first minus
        the third: what the feed alone costs, recording, rendering and appending versions.

        Written in transactions of at most :data:`MAX_ORDERS_PER_TRANSACTION` orders, as the
        load writes them, so the measure is the cost of the transactions the run commits.
        """
        from bench.process_usage import cpu_seconds

        pid = self.backend_pid()
        remaining = max(1, round(events / self.items_per_order))
        off_seconds = on_seconds = checks_seconds = 0.0
        off_items = on_items = checks_items = 0
        while remaining > 0:
            orders = min(remaining, MAX_ORDERS_PER_TRANSACTION)
            remaining -= orders
            # Committed first: a new catalogue goes with the first committed batch.
            before = cpu_seconds(pid)
            on_items += await self.write(orders)
            on_seconds += cpu_seconds(pid) - before
            now_us = local_from_utc_us(time.time_ns() // 1000)
            # Replica role: no user trigger fires, so nothing is recorded nor rendered.
            seconds, items = await self._rolled_back_insert(
                "session_replication_role", "replica", orders, now_us
            )
            off_seconds, off_items = off_seconds + seconds, off_items + items
            # The feed's triggers see the flush's own flag: they record nothing, queue no flush.
            seconds, items = await self._rolled_back_insert(
                "olist.publishing_versions", "on", orders, now_us
            )
            checks_seconds, checks_items = checks_seconds + seconds, checks_items + items
        off, on = off_seconds / off_items, on_seconds / on_items
        checks = checks_seconds / checks_items
        return {
            "insert_without_feed_us_per_event": round(1e6 * off, 1),
            "insert_with_checks_us_per_event": round(1e6 * checks, 1),
            "insert_with_feed_us_per_event": round(1e6 * on, 1),
            "feed_render_us_per_event": round(1e6 * (on - off), 1),
            "feed_only_us_per_event": round(1e6 * (on - checks), 1),
        }

    async def _rolled_back_insert(
        self, setting: str, value: str, orders: int, now_us: int
    ) -> tuple[float, int]:
        """Backend CPU seconds and items of inserting ``orders`` orders in a transaction that
        sets ``setting`` to ``value`` (``SET LOCAL``) and is rolled back."""
        from bench.process_usage import cpu_seconds

        assert self._writer is not None and self._connection is not None, "open() first"
        connection, pid = self._connection, self.backend_pid()
        before = cpu_seconds(pid)
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(f"SET LOCAL {setting} = '{value}'")
        try:
            batch = await self._writer.insert(connection, self.rng, orders, now_us=now_us)
        finally:
            await transaction.rollback()
        return cpu_seconds(pid) - before, int(batch.items)

    async def run(self, events_per_second: float, seconds: float) -> LoadWindow:
        """Offer ``events_per_second`` new events for ``seconds``; what was achieved."""
        from bench.process_usage import cpu_seconds

        if not (events_per_second > 0 and seconds > 0):
            raise ValueError(
                f"expected a rate and a duration > 0, got {events_per_second}, {seconds}"
            )
        first_sequence = self.log.last_sequence + 1
        transactions_before = len(self.log.commits)
        backend_before = cpu_seconds(self.backend_pid())
        loop = asyncio.get_running_loop()
        started, started_wall = loop.time(), time.time()
        events = tick = 0
        while True:
            tick += 1
            delay = started + min(tick * TICK_SECONDS, seconds) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # What is due by the clock, not by the ticks done: a writer slower than a tick
            # catches up in larger transactions instead of offering a tick's worth each.
            elapsed = min(loop.time() - started, seconds)
            due = events_per_second * elapsed
            while events < due:
                orders = min(
                    MAX_ORDERS_PER_TRANSACTION,
                    max(1, math.ceil((due - events) / self.items_per_order)),
                )
                events += await self.write(orders)
            if elapsed >= seconds:
                break
        window = LoadWindow(
            target_events_per_second=events_per_second,
            started_at=started_wall,
            seconds=loop.time() - started,
            events=events,
            transactions=len(self.log.commits) - transactions_before,
            first_sequence=first_sequence,
            last_sequence=self.log.last_sequence,
            backend_cpu_seconds=cpu_seconds(self.backend_pid()) - backend_before,
        )
        log.info(
            "offered load done target_events_per_s=%.0f events_per_s=%.0f events=%d "
            "transactions=%d seconds=%.1f",
            events_per_second, window.events_per_second, events, window.transactions,
            window.seconds,
        )  # fmt: skip
        return window
