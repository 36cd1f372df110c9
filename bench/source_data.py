"""Fill a benchmark's PostgreSQL with about N order-item events from the synthetic generator."""

from __future__ import annotations

import logging
import math

import asyncpg

from source_db.ddl import init_database
from source_db.synthetic import reference_data
from source_db.synthetic.generator import generate_dataset

log = logging.getLogger(__name__)


def mean_items_per_order() -> float:
    """Items per order in the generator's distribution (the real data's)."""
    weights = reference_data.ITEMS_PER_ORDER_WEIGHTS
    return sum(count * weight for count, weight in enumerate(weights, 1)) / sum(weights)


async def fill_source_database(dsn: str, events: int, seed: int) -> int:
    """Create the schema, generate about ``events`` items; returns the exact item count."""
    await init_database(dsn)
    orders = max(1, math.ceil(events / mean_items_per_order()))
    report = await generate_dataset(dsn, orders=orders, seed=seed)
    log.info("generated orders=%d items=%d seconds=%.1f", orders, report.items, report.seconds)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE")  # fresh statistics and visibility map
        return int(await connection.fetchval("SELECT count(*) FROM olist.order_items"))
    finally:
        await connection.close()
