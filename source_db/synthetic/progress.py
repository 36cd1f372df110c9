"""Moving simulated orders along their life cycle in the database.

:class:`LifecycleQueue` holds the pending stages of the orders in flight, by due time;
:func:`load_in_flight` rebuilds it from the database (at start, so a restarted simulator
picks up where the last one stopped, and for each new batch of orders); :func:`apply_stages`
writes the stages that came due: one ``UPDATE`` per kind of status change, the reviews by
``COPY``. The feed adds one version of an item per commit, so two stages of the same order
that came due together (at a high compression) are committed in separate transactions, in
time order: the feed gets one new version per change. Every update
checks the status it moves from, so a stage applied twice changes nothing.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from source_db.synthetic.distributions import GEOGRAPHY
from source_db.synthetic.lifecycle import REVIEW, OrderPlan, Stage, plan_order
from source_db.synthetic.orders import build_reviews
from source_db.synthetic.tables import Rows
from source_db.synthetic.values import local_from_utc_us, timestamps
from source_db.synthetic.writer import write_tables

PICKUP_WINDOW_DAYS = 120
"""At start, orders bought up to this many simulated days before the clock are picked up."""

_STATUS_CHANGES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    # new status: (date column it sets, statuses it may move from)
    "approved": ("order_approved_at", ("created",)),
    "shipped": ("order_delivered_carrier_date", ("created", "approved")),
    "delivered": ("order_delivered_customer_date", ("shipped",)),
    "canceled": (None, ("created", "approved")),
    "unavailable": (None, ("created", "approved")),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_IN_FLIGHT = """
SELECT o.order_id, o.order_status, o.order_purchase_timestamp,
       o.order_estimated_delivery_date, c.customer_state,
       (SELECT p.payment_type FROM olist.order_payments AS p WHERE p.order_id = o.order_id
        ORDER BY p.payment_sequential LIMIT 1) AS payment_type,
       EXISTS (SELECT 1 FROM olist.order_reviews AS r WHERE r.order_id = o.order_id)
           AS reviewed
FROM olist.orders AS o
JOIN olist.customers AS c ON c.customer_id = o.customer_id
"""


def local_us(moment: datetime) -> int:
    """São Paulo wall-clock microseconds of an instant read from the database."""
    return local_from_utc_us((moment - _EPOCH) // timedelta(microseconds=1))


class LifecycleQueue:
    """The pending stages of the orders in flight, earliest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, OrderPlan, Stage]] = []
        self._counter = itertools.count()

    def add(self, plan: OrderPlan, status: str, reviewed: bool) -> None:
        """Queue the stages of ``plan`` still to come for an order in ``status``."""
        for stage in plan.pending(status, reviewed):
            heapq.heappush(self._heap, (stage.due_us, next(self._counter), plan, stage))

    def pop_due(self, now_us: int, limit: int) -> list[tuple[OrderPlan, Stage]]:
        """Remove and return up to ``limit`` stages due at or before ``now_us``."""
        due: list[tuple[OrderPlan, Stage]] = []
        while self._heap and self._heap[0][0] <= now_us and len(due) < limit:
            _, _, plan, stage = heapq.heappop(self._heap)
            due.append((plan, stage))
        return due

    def orders_in_flight(self) -> int:
        """Orders with a stage still queued."""
        return len({plan.order_id for _, _, plan, _ in self._heap})

    def __len__(self) -> int:
        return len(self._heap)


async def load_in_flight(
    connection: asyncpg.Connection,
    queue: LifecycleQueue,
    *,
    order_ids: Sequence[str] | None = None,
    since_us: int | None = None,
) -> int:
    """Plan the orders ``order_ids`` (or those bought since ``since_us``) and queue their
    pending stages; return the number of orders with a stage still to come."""
    if order_ids is not None:
        records = await connection.fetch(
            _IN_FLIGHT + "WHERE o.order_id = ANY($1::char(32)[])", list(order_ids)
        )
    else:
        since = timestamps(np.array([since_us], dtype=np.int64))[0]
        records = await connection.fetch(
            _IN_FLIGHT + "WHERE o.order_purchase_timestamp >= $1 AND (o.order_status IN "
            "('created', 'approved', 'shipped') OR NOT EXISTS (SELECT 1 FROM "
            "olist.order_reviews AS r WHERE r.order_id = o.order_id))",
            since,
        )
    in_flight = 0
    for record in records:
        plan = plan_order(
            record["order_id"],
            local_us(record["order_purchase_timestamp"]),
            local_us(record["order_estimated_delivery_date"]),
            GEOGRAPHY.state_index.get(record["customer_state"], 0),
            record["payment_type"] or "credit_card",
        )
        if plan.pending(record["order_status"], record["reviewed"]):
            in_flight += 1
        queue.add(plan, record["order_status"], record["reviewed"])
    return in_flight


async def latest_simulated_us(connection: asyncpg.Connection) -> int | None:
    """The latest order or review date in the database (São Paulo wall-clock), if any."""
    latest = await connection.fetchval(
        """
        SELECT greatest(
            (SELECT max(greatest(order_purchase_timestamp, order_approved_at,
                                 order_delivered_carrier_date, order_delivered_customer_date))
             FROM olist.orders),
            (SELECT max(review_answer_timestamp) FROM olist.order_reviews))
        """
    )
    return None if latest is None else local_us(latest)


async def apply_stages(
    connection: asyncpg.Connection,
    rng: np.random.Generator,
    due: Sequence[tuple[OrderPlan, Stage]],
) -> dict[str, int]:
    """Write the stages ``due`` (in time order); return the rows changed per stage name.

    Each transaction holds at most one stage per order.
    """
    changed: dict[str, int] = {}
    rounds: list[list[tuple[OrderPlan, Stage]]] = []
    seen: dict[str, int] = {}
    for plan, stage in due:
        number = seen.get(plan.order_id, 0)
        seen[plan.order_id] = number + 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append((plan, stage))
    for stages in rounds:
        for name, count in (await _apply_round(connection, rng, stages)).items():
            changed[name] = changed.get(name, 0) + count
    return changed


async def _apply_round(
    connection: asyncpg.Connection,
    rng: np.random.Generator,
    due: Sequence[tuple[OrderPlan, Stage]],
) -> dict[str, int]:
    """Write stages of distinct orders in one transaction."""
    changed: dict[str, int] = {}
    async with connection.transaction():
        for name, (column, sources) in _STATUS_CHANGES.items():
            stages = [(plan.order_id, stage.due_us) for plan, stage in due if stage.name == name]
            if not stages:
                continue
            ids = [order_id for order_id, _ in stages]
            moments = timestamps(np.array([due_us for _, due_us in stages], dtype=np.int64))
            assignment = f", {column} = due.at" if column else ""
            result = await connection.execute(
                f"""
                UPDATE olist.orders AS o SET order_status = $1{assignment}
                FROM unnest($2::char(32)[], $3::timestamptz[]) AS due(order_id, at)
                WHERE o.order_id = due.order_id AND o.order_status = ANY($4::text[])
                """,  # column names come from _STATUS_CHANGES
                name, ids, moments, list(sources),
            )  # fmt: skip
            changed[name] = int(result.split()[-1])
        reviews = [(plan, stage) for plan, stage in due if stage.name == REVIEW]
        if reviews:
            rows: Rows = {
                "order_reviews": build_reviews(
                    rng,
                    np.array([plan.order_id for plan, _ in reviews], dtype=object),
                    np.array([plan.review_score for plan, _ in reviews], dtype=np.int64),
                    np.array([plan.review_created_us for plan, _ in reviews], dtype=np.int64),
                    np.array([stage.due_us for _, stage in reviews], dtype=np.int64),
                )
            }
            changed[REVIEW] = (await write_tables(connection, rows))["order_reviews"]
    return changed


__all__ = [
    "LifecycleQueue",
    "apply_stages",
    "latest_simulated_us",
    "load_in_flight",
    "local_us",
]
