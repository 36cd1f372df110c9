"""Customers: one customer row per order, new people or people who ordered before."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from source_db.synthetic import reference_data as ref
from source_db.synthetic.distributions import GEOGRAPHY, draw
from source_db.synthetic.errors import InvalidGenerationRequest
from source_db.synthetic.geolocation import ZipRegistry
from source_db.synthetic.tables import Row
from source_db.synthetic.values import random_ids, zip_prefixes


class CustomerPool:
    """People who ordered before, from whom returning customers are drawn.

    Columns live in buffers that double when full, so adding a batch costs its own size, not
    the pool's. With a ``limit`` (long-running simulator), the oldest half is dropped once the
    pool exceeds it, which bounds memory.
    """

    _COLUMNS = (
        ("unique_ids", object),
        ("zip_prefix", np.int64),
        ("city", object),
        ("state", np.int64),
    )

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 2:
            raise InvalidGenerationRequest(f"expected a pool limit >= 2, got {limit}")
        self.limit = limit
        self._size = 0
        self._buffers = {name: np.empty(1024, dtype=dtype) for name, dtype in self._COLUMNS}

    @property
    def size(self) -> int:
        return self._size

    @property
    def unique_ids(self) -> np.ndarray:
        return self._buffers["unique_ids"][: self._size]

    @property
    def zip_prefix(self) -> np.ndarray:
        return self._buffers["zip_prefix"][: self._size]

    @property
    def city(self) -> np.ndarray:
        return self._buffers["city"][: self._size]

    @property
    def state(self) -> np.ndarray:
        return self._buffers["state"][: self._size]

    def extend(
        self, unique_ids: np.ndarray, zip_prefix: np.ndarray, city: np.ndarray, state: np.ndarray
    ) -> None:
        """Add people (one entry per array position)."""
        added = len(unique_ids)
        needed = self._size + added
        capacity = len(self._buffers["unique_ids"])
        if needed > capacity:
            capacity = max(2 * capacity, needed)
            for name, buffer in self._buffers.items():
                grown = np.empty(capacity, dtype=buffer.dtype)
                grown[: self._size] = buffer[: self._size]
                self._buffers[name] = grown
        columns = {
            "unique_ids": unique_ids,
            "zip_prefix": zip_prefix,
            "city": city,
            "state": state,
        }
        for name, values in columns.items():
            self._buffers[name][self._size : needed] = values
        self._size = needed
        if self.limit is not None and self._size > self.limit:
            keep = self.limit // 2
            for buffer in self._buffers.values():
                buffer[:keep] = buffer[self._size - keep : self._size]
            self._size = keep


@dataclass
class Customers:
    """The customers of one order batch (one per order), with the geolocation rows they need."""

    ids: np.ndarray
    unique_ids: np.ndarray
    zip_prefix: np.ndarray
    city: np.ndarray
    state: np.ndarray
    rows: list[Row]
    geolocation: list[Row]


def build_customers(
    rng: np.random.Generator, count: int, pool: CustomerPool, zips: ZipRegistry
) -> Customers:
    """One customer row per order; some orders come from people who ordered before."""
    known = pool.size
    position = np.arange(count)
    # A returning order points at a person of the pool or at an earlier order of this batch.
    candidates = known + position
    returning = (rng.random(count) < ref.RETURNING_CUSTOMER_SHARE) & (candidates > 0)
    pick = np.floor(rng.random(count) * candidates).astype(np.int64)
    source = np.where(returning, pick, known + position)
    while True:  # follow chains of returning orders to the order that introduced the person
        in_batch = source >= known
        followed = source.copy()
        followed[in_batch] = source[source[in_batch] - known]
        if np.array_equal(followed, source):
            break
        source = followed

    new_city = draw(rng, GEOGRAPHY.customer_city_cdf, count)
    new_zip = rng.integers(GEOGRAPHY.zip_first[new_city], GEOGRAPHY.zip_last[new_city] + 1)
    new_unique = random_ids(rng, count)
    customer_ids = random_ids(rng, count)
    new_city_names = GEOGRAPHY.city_names[new_city]
    new_state = GEOGRAPHY.city_state[new_city]

    from_pool = source < known
    batch_source = np.where(from_pool, 0, source - known)
    pool_source = np.where(from_pool, source, 0)

    def pick_column(pool_column: np.ndarray, batch_column: np.ndarray) -> np.ndarray:
        if known == 0:
            return batch_column[batch_source]
        return np.where(from_pool, pool_column[pool_source], batch_column[batch_source])

    unique_ids = pick_column(pool.unique_ids, new_unique)
    zip_prefix = pick_column(pool.zip_prefix, new_zip)
    city = pick_column(pool.city, new_city_names)
    state = pick_column(pool.state, new_state)

    first_orders = ~returning
    geolocation = zips.geolocation_rows(rng, new_zip[first_orders], new_city[first_orders])
    pool.extend(
        new_unique[first_orders],
        new_zip[first_orders],
        new_city_names[first_orders],
        new_state[first_orders],
    )
    rows: list[Row] = list(
        zip(
            customer_ids.tolist(),
            unique_ids.tolist(),
            zip_prefixes(zip_prefix),
            city.tolist(),
            GEOGRAPHY.state_codes[state].tolist(),
            strict=True,
        )
    )
    return Customers(customer_ids, unique_ids, zip_prefix, city, state, rows, geolocation)
