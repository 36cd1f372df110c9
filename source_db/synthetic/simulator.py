"""Order simulator: inserts new orders at a set rate, then moves them through their life cycle.

Each order is bought "now" on the simulated clock (:mod:`source_db.synthetic.clock`: São Paulo
wall-clock time running ``days_per_minute`` days per real minute) by a new or a returning
customer, from products and sellers already in the database (the most recently sold ones; a
small catalogue is created when the database has none). It is written ``created``, with its
items and payments, in one transaction, so ``olist.order_events`` never shows half an order,
and without any date that has not happened yet. Its approval, carrier handover, delivery (or
cancellation) and review are then written, each when its simulated time comes
(:mod:`source_db.synthetic.lifecycle` plans them, :mod:`source_db.synthetic.progress` writes
them), so the feed gets a new version per change. The plan is recomputed from the database at
start, so a restarted simulator moves the orders in flight on; the simulated clock resumes at
the latest date in the database when that is later than now. Rows come from the generator's
builders (:mod:`source_db.synthetic.orders`, :mod:`source_db.synthetic.catalogue`).

Pacing: order ``k`` is due at ``k / rate`` seconds after the start, on the monotonic clock.
Ticks are scheduled from the start time (never from the previous tick), so the rate does not
drift; at high rates one tick writes all orders due since the previous one, in transactions
of at most ``MAX_ORDERS_PER_TRANSACTION`` orders. Life-cycle stages due are written
at every tick (at most every ``MAX_TICK_SECONDS``). Setting the ``stop`` event ends the run
after the transaction in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

import asyncpg
import numpy as np

from source_db.connection import connect
from source_db.synthetic.catalogue import Catalogue, build_catalogue
from source_db.synthetic.clock import SimulatedClock
from source_db.synthetic.customers import CustomerPool
from source_db.synthetic.distributions import GEOGRAPHY
from source_db.synthetic.geolocation import ZipRegistry
from source_db.synthetic.orders import OrderBatch, build_order_batch
from source_db.synthetic.progress import (
    PICKUP_WINDOW_DAYS,
    LifecycleQueue,
    apply_stages,
    latest_simulated_us,
    load_in_flight,
)
from source_db.synthetic.tables import Rows
from source_db.synthetic.values import US_PER_DAY, local_from_utc_us
from source_db.synthetic.writer import require_schema, write_category_translations, write_tables

log = logging.getLogger(__name__)

RECENT_ITEMS_SCANNED = 20_000
"""Order items (latest by source_sequence) whose products and sellers make the catalogue."""
CUSTOMER_SAMPLE = 5_000
"""Existing customers loaded as candidates for returning orders."""
NEW_CATALOGUE_PRODUCTS = 500
NEW_CATALOGUE_SELLERS = 50
"""Size of the catalogue created when the database has no sold product yet."""
CUSTOMER_POOL_LIMIT = 200_000
"""People kept in memory as candidates for returning orders during a long simulation."""
MAX_ORDERS_PER_TRANSACTION = 1_000
"""Largest number of orders written in one transaction when catching up."""
MIN_TICK_SECONDS = 0.05
"""Shortest interval between two ticks; faster rates write several orders per tick."""
MAX_TICK_SECONDS = 1.0
"""Longest interval between two ticks, so life-cycle stages are written on time at low rates."""
MAX_STAGES_PER_TRANSACTION = 2_000
"""Largest number of life-cycle stages written in one transaction when catching up."""
DEFAULT_DAYS_PER_MINUTE = 1.0
"""Simulated days per real minute: a demo shows deliveries and reviews within minutes."""
PROGRESS_LOG_SECONDS = 10.0
SIMULATOR_STREAM = 1
"""Mixed into the seed so simulator and generator never share a random stream."""


class SimulatorError(Exception):
    """Base class of the order simulator's errors."""


class InvalidSimulationRequest(SimulatorError):
    """An argument of the simulator is out of range."""


@dataclass
class OrderWriter:
    """Writes batches of complete orders; holds the catalogue and customers it draws from."""

    catalogue: Catalogue
    pool: CustomerPool
    zips: ZipRegistry
    pending_catalogue: Rows | None = None

    @classmethod
    async def load(cls, connection: asyncpg.Connection, rng: np.random.Generator) -> OrderWriter:
        """Read the catalogue, a sample of customers and the known zip prefixes.

        When no product has been sold yet, a new catalogue is drawn; it is written together
        with the first batch of orders.
        """
        await require_schema(connection)
        prefixes = await connection.fetch(
            "SELECT DISTINCT geolocation_zip_code_prefix FROM olist.geolocation"
        )
        zips = ZipRegistry.from_prefixes([record[0] for record in prefixes])
        pool = await _load_customers(connection)
        catalogue = await _load_catalogue(connection)
        pending = None
        if catalogue is None:
            catalogue, pending = build_catalogue(
                rng, products=NEW_CATALOGUE_PRODUCTS, sellers=NEW_CATALOGUE_SELLERS, zips=zips
            )
            log.info(
                "catalogue created products=%d sellers=%d",
                NEW_CATALOGUE_PRODUCTS, NEW_CATALOGUE_SELLERS,
            )  # fmt: skip
        return cls(catalogue=catalogue, pool=pool, zips=zips, pending_catalogue=pending)

    async def insert(
        self,
        connection: asyncpg.Connection,
        rng: np.random.Generator,
        count: int,
        now_us: int | None = None,
    ) -> OrderBatch:
        """Insert ``count`` orders bought at ``now_us``, in one transaction.

        Without ``now_us`` the orders are bought now and complete (their life cycle drawn up
        front); with it (São Paulo wall-clock microseconds) they are ``created``, with no date
        or review after the purchase: the simulator writes those later.
        """
        # The builders work in São Paulo wall-clock time, like the real data.
        start_us = local_from_utc_us(time.time_ns() // 1000) if now_us is None else now_us
        # One microsecond apart: the batch keeps a strict purchase order.
        purchases = start_us + np.arange(count, dtype=np.int64)
        batch = build_order_batch(rng, purchases, self.catalogue, self.pool, self.zips)
        if now_us is not None:
            batch.rows["orders"] = [
                (order_id, customer_id, "created", purchase, None, None, None, estimated)
                for order_id, customer_id, _, purchase, _, _, _, estimated in batch.rows["orders"]
            ]
            batch.rows["order_reviews"] = []
        async with connection.transaction():
            if self.pending_catalogue is not None:
                await write_category_translations(connection)
                await write_tables(connection, self.pending_catalogue)
            await write_tables(connection, batch.rows)
        self.pending_catalogue = None
        return batch


async def _load_catalogue(connection: asyncpg.Connection) -> Catalogue | None:
    records = await connection.fetch(
        """
        SELECT recent.product_id, recent.seller_id, min(recent.price) AS price,
               count(*) AS sold, p.product_weight_g, s.seller_state
        FROM (
            SELECT product_id, seller_id, price
            FROM olist.order_items
            ORDER BY source_sequence DESC
            LIMIT $1
        ) AS recent
        JOIN olist.products AS p ON p.product_id = recent.product_id
        JOIN olist.sellers AS s ON s.seller_id = recent.seller_id
        GROUP BY recent.product_id, recent.seller_id, p.product_weight_g, s.seller_state
        ORDER BY recent.product_id, recent.seller_id
        """,
        RECENT_ITEMS_SCANNED,
    )
    if not records:
        return None
    seller_ids, product_seller = np.unique(
        np.array([record["seller_id"] for record in records], dtype=object), return_inverse=True
    )
    state_of_seller = {record["seller_id"]: record["seller_state"] for record in records}
    sold = np.array([record["sold"] for record in records], dtype=np.float64)
    return Catalogue(
        product_ids=np.array([record["product_id"] for record in records], dtype=object),
        product_seller=product_seller.astype(np.int64),
        product_price_cents=np.array(
            [int(record["price"] * 100) for record in records], dtype=np.int64
        ),
        product_weight_g=np.array(
            [record["product_weight_g"] or 700 for record in records], dtype=np.int64
        ),
        product_cdf=np.cumsum(sold) / sold.sum(),
        seller_ids=seller_ids.astype(object),
        seller_state=np.array(
            [_state_number(state_of_seller[seller]) for seller in seller_ids.tolist()],
            dtype=np.int64,
        ),
    )


async def _load_customers(connection: asyncpg.Connection) -> CustomerPool:
    # Ids are random, so the first ids in index order are an unbiased, repeatable sample.
    records = await connection.fetch(
        """
        SELECT customer_unique_id, customer_zip_code_prefix, customer_city, customer_state
        FROM olist.customers
        ORDER BY customer_id
        LIMIT $1
        """,
        CUSTOMER_SAMPLE,
    )
    pool = CustomerPool(limit=CUSTOMER_POOL_LIMIT)
    if records:
        pool.extend(
            np.array([record[0] for record in records], dtype=object),
            np.array([int(record[1]) for record in records], dtype=np.int64),
            np.array([record[2] for record in records], dtype=object),
            np.array([_state_number(record[3]) for record in records], dtype=np.int64),
        )
    return pool


def _state_number(code: str) -> int:
    try:
        return GEOGRAPHY.state_index[code]
    except KeyError:
        raise SimulatorError(
            f"expected a Brazilian state code ({', '.join(GEOGRAPHY.state_index)}), found "
            f"{code!r} in the database; fix that row or simulate on a clean database"
        ) from None


async def insert_random_orders(
    connection: asyncpg.Connection, count: int, rng: np.random.Generator
) -> int:
    """Insert ``count`` complete random orders bought now, in one transaction.

    Returns the number of order items inserted. Products and sellers are the database's
    recently sold ones (a catalogue is created when there are none).
    """
    if count < 1:
        raise InvalidSimulationRequest(f"expected count >= 1, got {count}")
    writer = await OrderWriter.load(connection, rng)
    batch = await writer.insert(connection, rng, count)
    return batch.items


@dataclass(frozen=True)
class SimulationReport:
    """What a simulation run inserted, and why it ended."""

    orders: int
    items: int
    seconds: float
    stopped_by: str  # "stop", "duration" or "max_orders"
    stages: int = 0
    """Life-cycle stages written (status changes and reviews)."""
    in_flight: int = 0
    """Orders with a stage still to come when the run ended (picked up by the next run)."""

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds if self.seconds > 0 else 0.0


async def simulate(
    dsn: str,
    *,
    rate: float,
    seed: int,
    stop: asyncio.Event,
    max_orders: int | None = None,
    duration: float | None = None,
    days_per_minute: float = DEFAULT_DAYS_PER_MINUTE,
) -> SimulationReport:
    """Insert orders at ``rate`` per second until ``stop`` is set, ``duration`` seconds have
    passed or ``max_orders`` orders are in; meanwhile move the orders in flight (those of
    this run and the ones earlier runs left) through their life cycle, ``days_per_minute``
    simulated days per real minute.

    ``seed`` fixes the simulated content given the database's state (it is mixed with the
    number of orders already present, so a restart with the same seed draws new ids).
    """
    if not (rate > 0 and math.isfinite(rate)):
        raise InvalidSimulationRequest(f"expected a rate > 0 orders per second, got {rate}")
    if seed < 0:
        raise InvalidSimulationRequest(f"expected a seed >= 0, got {seed}")
    if max_orders is not None and max_orders < 1:
        raise InvalidSimulationRequest(f"expected max_orders >= 1, got {max_orders}")
    if duration is not None and not duration > 0:
        raise InvalidSimulationRequest(f"expected a duration > 0 seconds, got {duration}")
    if not (days_per_minute > 0 and math.isfinite(days_per_minute)):
        raise InvalidSimulationRequest(f"expected days_per_minute > 0, got {days_per_minute}")

    loop = asyncio.get_running_loop()
    connection = await connect(dsn)
    try:
        existing = await connection.fetchval("SELECT count(*) FROM olist.orders")
        rng = np.random.default_rng(np.random.SeedSequence([seed, existing, SIMULATOR_STREAM]))
        writer = await OrderWriter.load(connection, rng)
        interval = min(max(1.0 / rate, MIN_TICK_SECONDS), MAX_TICK_SECONDS)
        now_us = local_from_utc_us(time.time_ns() // 1000)
        clock = SimulatedClock(
            max(now_us, await latest_simulated_us(connection) or now_us), days_per_minute, loop.time
        )
        queue = LifecycleQueue()
        resumed = await load_in_flight(
            connection, queue, since_us=clock.start_us - PICKUP_WINDOW_DAYS * US_PER_DAY
        )
        log.info(
            "simulation started rate=%.3f seed=%d tick_seconds=%.3f existing_orders=%d "
            "days_per_minute=%g resumed_in_flight=%d",
            rate, seed, interval, existing, days_per_minute, resumed,
        )  # fmt: skip
        started = loop.time()
        next_log = started + PROGRESS_LOG_SECONDS
        orders = items = tick = stages = 0
        stopped_by = "stop"
        while not stop.is_set():
            tick += 1
            scheduled = tick * interval
            if await _wait_until(loop, stop, started + scheduled):
                break
            if duration is not None:
                scheduled = min(scheduled, duration)
            due = math.floor(rate * scheduled + 1e-9)
            if max_orders is not None:
                due = min(due, max_orders)
            while orders < due and not stop.is_set():
                batch = await writer.insert(
                    connection,
                    rng,
                    min(due - orders, MAX_ORDERS_PER_TRANSACTION),
                    now_us=clock.now_us(),
                )
                orders += batch.orders
                items += batch.items
                await load_in_flight(
                    connection, queue, order_ids=[str(row[0]) for row in batch.rows["orders"]]
                )
            while not stop.is_set():
                stages_due = queue.pop_due(clock.now_us(), MAX_STAGES_PER_TRANSACTION)
                if not stages_due:
                    break
                stages += sum((await apply_stages(connection, rng, stages_due)).values())
            if loop.time() >= next_log:
                next_log += PROGRESS_LOG_SECONDS
                log.info(
                    "simulating orders=%d items=%d stages=%d seconds=%.1f",
                    orders, items, stages, loop.time() - started,
                )  # fmt: skip
            if max_orders is not None and orders >= max_orders:
                stopped_by = "max_orders"
                break
            if duration is not None and tick * interval >= duration:
                stopped_by = "duration"
                break
    finally:
        await connection.close()
    report = SimulationReport(
        orders=orders,
        items=items,
        seconds=loop.time() - started,
        stopped_by=stopped_by,
        stages=stages,
        in_flight=queue.orders_in_flight(),
    )
    log.info(
        "simulation stopped stopped_by=%s orders=%d items=%d stages=%d in_flight=%d seconds=%.1f",
        report.stopped_by, report.orders, report.items, report.stages, report.in_flight,
        report.seconds,
    )  # fmt: skip
    return report


async def _wait_until(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, deadline: float
) -> bool:
    """Sleep until ``deadline`` (loop clock); return True when ``stop`` was set meanwhile."""
    remaining = deadline - loop.time()
    if remaining <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), remaining)
    except TimeoutError:
        return False
    return True


__all__ = [
    "InvalidSimulationRequest",
    "OrderWriter",
    "SimulationReport",
    "SimulatorError",
    "insert_random_orders",
    "simulate",
]
