"""Synthetic Olist data: rows built in bulk with numpy and loaded into PostgreSQL by binary COPY.

``generate_dataset(dsn, orders=N, seed=S)`` writes N orders with their customers, items,
payments and reviews, plus the sellers, products, category translations and geolocation rows
they use, imitating the real dataset (:mod:`source_db.synthetic.reference_data`).

How it works:

* Every column is drawn for a whole batch at once from one ``numpy.random.Generator``; ids are
  32 lowercase hex characters taken from the same generator, so a seed fixes every byte.
* Purchase times are drawn for the whole run, sorted, then written in chunks of
  ``chunk_orders`` orders, one transaction per chunk. Items are therefore inserted in purchase
  time order and ``order_items.source_sequence`` follows time within a run.
* Appending: the generator's random streams are seeded with ``(seed, orders already in the
  database)``. On an empty database a seed always gives the same rows; a second run with the
  same seed on the same database draws a new, independent data set (new ids, no key clash)
  whose purchase times overlap the first run's.
* At the end the new events are rendered into the API's feed
  (:func:`source_db.feed.refresh_feed`), so they are served at full speed at once.

The parts, each a module of :mod:`source_db.synthetic`: ``distributions`` (the reference data
as arrays), ``values`` (numpy columns to stored values), the row builders ``catalogue``,
``geolocation``, ``customers`` and ``orders``, and ``writer`` (binary COPY). The order
simulator (:mod:`source_db.synthetic.simulator`) shares the builders and the writer; this
module is the generate command's entry point, :func:`generate_dataset`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from source_db.connection import connect
from source_db.feed import refresh_feed
from source_db.synthetic import reference_data as ref
from source_db.synthetic.catalogue import build_catalogue
from source_db.synthetic.customers import CustomerPool
from source_db.synthetic.errors import InvalidGenerationRequest
from source_db.synthetic.geolocation import ZipRegistry
from source_db.synthetic.orders import build_order_batch, draw_purchase_times
from source_db.synthetic.tables import TABLE_COLUMNS
from source_db.synthetic.writer import require_schema, write_category_translations, write_tables

log = logging.getLogger(__name__)

REPORTED_TABLES: tuple[str, ...] = ("product_category_name_translation", *TABLE_COLUMNS)
"""Tables counted in :class:`GenerationReport` (category translations are not in TABLE_COLUMNS)."""


@dataclass(frozen=True)
class GenerationProgress:
    """Where a running generation stands, passed to the progress callback after each chunk."""

    orders_done: int
    orders_total: int
    items_done: int
    seconds: float


@dataclass(frozen=True)
class GenerationReport:
    """What ``generate_dataset`` wrote."""

    seed: int
    existing_orders: int
    orders: int
    items: int
    rows: dict[str, int]
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


async def generate_dataset(
    dsn: str,
    *,
    orders: int,
    seed: int,
    chunk_orders: int = 50_000,
    progress: Callable[[GenerationProgress], None] | None = None,
) -> GenerationReport:
    """Write ``orders`` synthetic orders (and everything they reference) into the database.

    Deterministic: on a database without orders, the same ``seed`` writes the same rows byte
    for byte. On a database that has orders, the run is seeded with ``(seed, existing order
    count)`` and appends a new, independent data set. ``chunk_orders`` orders are written per
    transaction; an interrupted run keeps its committed chunks.
    """
    if orders < 1:
        raise InvalidGenerationRequest(f"expected orders >= 1, got {orders}")
    if seed < 0:
        raise InvalidGenerationRequest(f"expected a seed >= 0, got {seed}")
    if chunk_orders < 1:
        raise InvalidGenerationRequest(f"expected chunk_orders >= 1, got {chunk_orders}")
    started = time.monotonic()
    connection = await connect(dsn)
    try:
        await require_schema(connection)
        existing_orders = await connection.fetchval("SELECT count(*) FROM olist.orders")
        known_prefixes = await connection.fetch(
            "SELECT DISTINCT geolocation_zip_code_prefix FROM olist.geolocation"
        )
        zips = ZipRegistry.from_prefixes([record[0] for record in known_prefixes])
        root = np.random.SeedSequence([seed, existing_orders])
        catalogue_seed, calendar_seed, batches_seed = root.spawn(3)

        catalogue, catalogue_rows = build_catalogue(
            np.random.default_rng(catalogue_seed),
            products=max(20, round(orders * ref.PRODUCTS_PER_ORDER)),
            sellers=max(5, round(orders * ref.SELLERS_PER_ORDER)),
            zips=zips,
        )
        totals = dict.fromkeys(REPORTED_TABLES, 0)
        async with connection.transaction():
            totals["product_category_name_translation"] = await write_category_translations(
                connection
            )
            _add(totals, await write_tables(connection, catalogue_rows))
        log.info(
            "catalogue written sellers=%d products=%d seed=%d existing_orders=%d",
            totals["sellers"], totals["products"], seed, existing_orders,
        )  # fmt: skip

        purchases = draw_purchase_times(np.random.default_rng(calendar_seed), orders)
        pool = CustomerPool()
        chunk_starts = range(0, orders, chunk_orders)
        items = 0
        for chunk_seed, start in zip(
            batches_seed.spawn(len(chunk_starts)), chunk_starts, strict=True
        ):
            batch = build_order_batch(
                np.random.default_rng(chunk_seed),
                purchases[start : start + chunk_orders],
                catalogue,
                pool,
                zips,
            )
            async with connection.transaction():
                _add(totals, await write_tables(connection, batch.rows))
            items += batch.items
            elapsed = time.monotonic() - started
            done = start + batch.orders
            log.info(
                "chunk written orders_done=%d orders_total=%d items_done=%d seconds=%.1f",
                done, orders, items, elapsed,
            )  # fmt: skip
            if progress is not None:
                progress(GenerationProgress(done, orders, items, elapsed))
        # Render the new events into the API's feed now, so they are served at full speed.
        await refresh_feed(connection)
    finally:
        await connection.close()
    return GenerationReport(
        seed=seed,
        existing_orders=existing_orders,
        orders=orders,
        items=items,
        rows=totals,
        seconds=time.monotonic() - started,
    )


def _add(totals: dict[str, int], written: dict[str, int]) -> None:
    for table, count in written.items():
        totals[table] += count
