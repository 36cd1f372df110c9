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

The row builders (:func:`build_catalogue`, :func:`build_order_batch`) and the writer
(:func:`write_tables`) are shared with the order simulator (:mod:`source_db.synthetic.simulator`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import numpy as np

from source_db.connection import connect
from source_db.feed import refresh_feed
from source_db.synthetic import reference_data as ref

log = logging.getLogger(__name__)

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR
NULL_TIMESTAMP = np.iinfo(np.int64).min
"""Missing timestamp in an int64 microsecond column: it is NaT once viewed as datetime64."""

GEOLOCATION_LOCK_KEY = 4242002
"""Advisory lock serialising writers that number ``olist.geolocation`` rows (max(id) + 1)."""

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    # Load order: a table comes after the tables its foreign keys point to.
    "geolocation": (
        "geolocation_id", "geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng",
        "geolocation_city", "geolocation_state",
    ),
    "sellers": ("seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"),
    "products": (
        "product_id", "product_category_name", "product_name_lenght",
        "product_description_lenght", "product_photos_qty", "product_weight_g",
        "product_length_cm", "product_height_cm", "product_width_cm",
    ),
    "customers": (
        "customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city",
        "customer_state",
    ),
    "orders": (
        "order_id", "customer_id", "order_status", "order_purchase_timestamp",
        "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ),
    "order_items": (
        "order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price",
        "freight_value",
    ),
    "order_payments": (
        "order_id", "payment_sequential", "payment_type", "payment_installments",
        "payment_value",
    ),
    "order_reviews": (
        "review_id", "order_id", "review_score", "review_comment_title",
        "review_comment_message", "review_creation_date", "review_answer_timestamp",
    ),
}  # fmt: skip
"""Columns the generator writes per table (``order_items.source_sequence`` is the default)."""

REPORTED_TABLES: tuple[str, ...] = ("product_category_name_translation", *TABLE_COLUMNS)

Rows = dict[str, list[tuple]]
"""Rows per table name (``TABLE_COLUMNS`` order); geolocation rows come without their id."""


class GeneratorError(Exception):
    """Base class of the synthetic data generator's errors."""


class SchemaMissingError(GeneratorError):
    """The target database has no Olist schema."""


class InvalidGenerationRequest(GeneratorError):
    """An argument of the generator is out of range."""


# --------------------------------------------------------------------------------------------
# Reference data as arrays


def _cdf(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(weights, dtype=np.float64)
    cumulative = np.cumsum(values)
    return cumulative / cumulative[-1]


def draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` indexes from the distribution whose cumulative weights are ``cdf``."""
    picks = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(picks, len(cdf) - 1)


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, size: int
) -> np.ndarray:
    return np.asarray(median, dtype=np.float64) * np.exp(sigma * rng.standard_normal(size))


@dataclass(frozen=True)
class _Geography:
    """The states and cities of :mod:`reference_data` flattened into numpy arrays."""

    state_codes: np.ndarray  # object array of "SP", "RJ", ...
    state_delivery_days: np.ndarray
    city_names: np.ndarray  # object array
    city_state: np.ndarray
    zip_first: np.ndarray
    zip_last: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    customer_city_cdf: np.ndarray
    seller_city_cdf: np.ndarray
    state_index: dict[str, int]


def _build_geography() -> _Geography:
    names, states, first, last, lat, lng, customer_w, seller_w = ([] for _ in range(8))
    for state_number, state in enumerate(ref.STATES):
        city_total = sum(city.weight for city in state.cities)
        for city in state.cities:
            share = city.weight / city_total
            names.append(city.name)
            states.append(state_number)
            first.append(city.zip_first)
            last.append(city.zip_last)
            lat.append(city.latitude)
            lng.append(city.longitude)
            customer_w.append(state.customer_weight * share)
            seller_w.append(state.seller_weight * share)
    return _Geography(
        state_codes=np.array([state.code for state in ref.STATES], dtype=object),
        state_delivery_days=np.array([state.median_delivery_days for state in ref.STATES]),
        city_names=np.array(names, dtype=object),
        city_state=np.array(states, dtype=np.int64),
        zip_first=np.array(first, dtype=np.int64),
        zip_last=np.array(last, dtype=np.int64),
        latitude=np.array(lat),
        longitude=np.array(lng),
        customer_city_cdf=_cdf(customer_w),
        seller_city_cdf=_cdf(seller_w),
        state_index={state.code: number for number, state in enumerate(ref.STATES)},
    )


GEOGRAPHY = _build_geography()
CATEGORY_NAMES: tuple[str, ...] = tuple(name for name, _ in ref.CATEGORY_TRANSLATIONS)
_CATEGORY_CDF = _cdf(
    [ref.CATEGORY_ITEM_WEIGHTS[name] for name in CATEGORY_NAMES]
    + [ref.UNCATEGORISED_PRODUCT_SHARE / (1 - ref.UNCATEGORISED_PRODUCT_SHARE)
       * sum(ref.CATEGORY_ITEM_WEIGHTS.values())]
)  # fmt: skip
"""Category of a product: index into CATEGORY_NAMES, or len(CATEGORY_NAMES) for none."""
_CATEGORY_PRICE_FACTOR = np.array(
    [ref.CATEGORY_PRICE_FACTORS.get(name, 1.0) for name in CATEGORY_NAMES] + [1.0]
)
_STATUSES = np.array(list(ref.ORDER_STATUS_WEIGHTS), dtype=object)
_STATUS_CDF = _cdf(list(ref.ORDER_STATUS_WEIGHTS.values()))
_PAYMENT_TYPES = np.array(list(ref.PRIMARY_PAYMENT_WEIGHTS), dtype=object)
_PAYMENT_CDF = _cdf(list(ref.PRIMARY_PAYMENT_WEIGHTS.values()))
_ITEMS_CDF = _cdf(ref.ITEMS_PER_ORDER_WEIGHTS)
_INSTALLMENTS_CDF = _cdf(ref.CREDIT_CARD_INSTALLMENT_WEIGHTS)
_EXTRA_VOUCHERS_CDF = _cdf(ref.EXTRA_VOUCHER_COUNT_WEIGHTS)
_VOUCHER_ONLY_CDF = _cdf(ref.VOUCHER_ONLY_COUNT_WEIGHTS)
_HOUR_CDF = _cdf(ref.HOUR_OF_DAY_WEIGHTS)
_MONTH_CDF = _cdf([orders for _, _, orders in ref.MONTHLY_ORDER_WEIGHTS])
_MONTHS = np.array(
    [f"{year:04d}-{month:02d}" for year, month, _ in ref.MONTHLY_ORDER_WEIGHTS],
    dtype="datetime64[M]",
)
_MONTH_START_US = _MONTHS.astype("datetime64[us]").astype(np.int64)
_MONTH_DAYS = ((_MONTHS + 1).astype("datetime64[D]") - _MONTHS.astype("datetime64[D]")).astype(
    np.int64
)


def _review_score_cdfs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of on-time, late and undelivered orders.

    The on-time weights are solved so that, with ``LATE_DELIVERY_SHARE`` of delivered orders
    late, all delivered orders together show ``REVIEW_SCORE_WEIGHTS``.
    """
    overall = np.asarray(ref.REVIEW_SCORE_WEIGHTS) / sum(ref.REVIEW_SCORE_WEIGHTS)
    late = np.asarray(ref.LATE_REVIEW_SCORE_WEIGHTS) / sum(ref.LATE_REVIEW_SCORE_WEIGHTS)
    on_time = (overall - ref.LATE_DELIVERY_SHARE * late) / (1 - ref.LATE_DELIVERY_SHARE)
    return _cdf(on_time), _cdf(late), _cdf(ref.UNDELIVERED_REVIEW_SCORE_WEIGHTS)


_ON_TIME_SCORE_CDF, _LATE_SCORE_CDF, _UNDELIVERED_SCORE_CDF = _review_score_cdfs()


# --------------------------------------------------------------------------------------------
# Value helpers


def random_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` ids of 32 lowercase hex characters (128 random bits each), as an object array."""
    text = rng.bytes(16 * count).hex()
    return np.array([text[start : start + 32] for start in range(0, 32 * count, 32)], dtype=object)


def zip_prefixes(values: np.ndarray) -> list[str]:
    """Five-digit zip prefixes as text, zero padded like the dataset (``01310``)."""
    return [f"{value:05d}" for value in values.tolist()]


def timestamps(microseconds: np.ndarray) -> list[datetime | None]:
    """UTC datetimes from microseconds since the epoch; ``NULL_TIMESTAMP`` gives ``None``."""
    naive = microseconds.astype(np.int64).view("datetime64[us]").tolist()
    return [None if value is None else value.replace(tzinfo=UTC) for value in naive]


def money(cents: np.ndarray) -> list[Decimal]:
    """BRL amounts with two decimals from integer cents."""
    return [Decimal(value).scaleb(-2) for value in cents.tolist()]


def _floor_day(microseconds: np.ndarray) -> np.ndarray:
    return microseconds - microseconds % US_PER_DAY


def _seconds(values_us: np.ndarray) -> np.ndarray:
    """Round durations or instants to whole seconds, as the dataset's timestamps are."""
    return np.round(values_us / US_PER_SECOND).astype(np.int64) * US_PER_SECOND


def _nullable(values: np.ndarray, present: np.ndarray) -> list:
    out = values.astype(object)
    out[~present] = None
    return out.tolist()


# --------------------------------------------------------------------------------------------
# Catalogue: sellers and products


@dataclass
class Catalogue:
    """Products on sale and their sellers, as the order builder needs them."""

    product_ids: np.ndarray  # object array of ids
    product_seller: np.ndarray  # index into seller_ids
    product_price_cents: np.ndarray
    product_weight_g: np.ndarray
    product_cdf: np.ndarray  # popularity of each product
    seller_ids: np.ndarray  # object array of ids
    seller_state: np.ndarray  # index into reference_data.STATES

    @property
    def size(self) -> int:
        return len(self.product_ids)


@dataclass
class ZipRegistry:
    """Zip prefixes that already have geolocation rows (a flag per prefix 00000-99999)."""

    known: np.ndarray = field(default_factory=lambda: np.zeros(100_000, dtype=bool))

    @classmethod
    def from_prefixes(cls, prefixes: Sequence[str]) -> ZipRegistry:
        registry = cls()
        if prefixes:
            registry.known[np.array([int(prefix) for prefix in prefixes], dtype=np.int64)] = True
        return registry

    def geolocation_rows(
        self, rng: np.random.Generator, prefixes: np.ndarray, cities: np.ndarray
    ) -> list[tuple]:
        """Rows (without id) for the prefixes not seen yet; ``cities`` indexes GEOGRAPHY."""
        fresh = ~self.known[prefixes]
        new_prefixes, first_seen = np.unique(prefixes[fresh], return_index=True)
        if len(new_prefixes) == 0:
            return []
        self.known[new_prefixes] = True
        city = cities[fresh][first_seen]
        # Real prefixes carry dozens of points around one spot; a handful is enough here.
        per_prefix = 1 + np.minimum(rng.poisson(1.5, len(new_prefixes)), 5)
        centre_lat = GEOGRAPHY.latitude[city] + rng.normal(0.0, 0.04, len(new_prefixes))
        centre_lng = GEOGRAPHY.longitude[city] + rng.normal(0.0, 0.04, len(new_prefixes))
        owner = np.repeat(np.arange(len(new_prefixes)), per_prefix)
        total = len(owner)
        lat = np.round(centre_lat[owner] + rng.normal(0.0, 0.004, total), 6)
        lng = np.round(centre_lng[owner] + rng.normal(0.0, 0.004, total), 6)
        row_city = city[owner]
        return list(
            zip(
                zip_prefixes(new_prefixes[owner]),
                lat.tolist(),
                lng.tolist(),
                GEOGRAPHY.city_names[row_city].tolist(),
                GEOGRAPHY.state_codes[GEOGRAPHY.city_state[row_city]].tolist(),
                strict=True,
            )
        )


def build_catalogue(
    rng: np.random.Generator, *, products: int, sellers: int, zips: ZipRegistry
) -> tuple[Catalogue, Rows]:
    """Draw ``sellers`` sellers and ``products`` products; return them and their rows."""
    seller_city = draw(rng, GEOGRAPHY.seller_city_cdf, sellers)
    seller_zip = rng.integers(GEOGRAPHY.zip_first[seller_city], GEOGRAPHY.zip_last[seller_city] + 1)
    seller_ids = random_ids(rng, sellers)
    seller_state = GEOGRAPHY.city_state[seller_city]
    # A few sellers make most sales: heavy-tailed popularity.
    seller_cdf = _cdf(rng.lognormal(0.0, 1.6, sellers))

    category = draw(rng, _CATEGORY_CDF, products)
    has_category = category < len(CATEGORY_NAMES)
    product_ids = random_ids(rng, products)
    product_seller = draw(rng, seller_cdf, products)
    price_cents = np.clip(
        np.round(_lognormal(rng, 6800.0 * _CATEGORY_PRICE_FACTOR[category], 0.8, products)),
        85,
        673_500,
    ).astype(np.int64)
    weight = np.clip(np.round(_lognormal(rng, 700.0, 1.2, products)), 50, 40_425).astype(np.int64)
    length = np.clip(np.round(_lognormal(rng, 25.0, 0.5, products)), 7, 105).astype(np.int64)
    height = np.clip(np.round(_lognormal(rng, 13.0, 0.7, products)), 2, 105).astype(np.int64)
    width = np.clip(np.round(_lognormal(rng, 20.0, 0.5, products)), 6, 118).astype(np.int64)
    name_length = np.clip(np.round(rng.normal(48.0, 10.0, products)), 5, 76).astype(np.int64)
    description_length = np.clip(np.round(_lognormal(rng, 600.0, 0.8, products)), 4, 3992).astype(
        np.int64
    )
    photos = np.minimum(rng.geometric(0.55, products), 20)
    popularity = _cdf(rng.lognormal(0.0, 1.3, products))

    category_names = np.array([*CATEGORY_NAMES, None], dtype=object)[category]
    rows: Rows = {table: [] for table in TABLE_COLUMNS}
    rows["geolocation"] = zips.geolocation_rows(rng, seller_zip, seller_city)
    rows["sellers"] = list(
        zip(
            seller_ids.tolist(),
            zip_prefixes(seller_zip),
            GEOGRAPHY.city_names[seller_city].tolist(),
            GEOGRAPHY.state_codes[seller_state].tolist(),
            strict=True,
        )
    )
    # Products without a category have no name, description or photo count either, as in
    # the real data.
    rows["products"] = list(
        zip(
            product_ids.tolist(),
            category_names.tolist(),
            _nullable(name_length, has_category),
            _nullable(description_length, has_category),
            _nullable(photos, has_category),
            weight.tolist(),
            length.tolist(),
            height.tolist(),
            width.tolist(),
            strict=True,
        )
    )
    catalogue = Catalogue(
        product_ids=product_ids,
        product_seller=product_seller,
        product_price_cents=price_cents,
        product_weight_g=weight,
        product_cdf=popularity,
        seller_ids=seller_ids,
        seller_state=seller_state,
    )
    return catalogue, rows


# --------------------------------------------------------------------------------------------
# Customers


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
class _Customers:
    ids: np.ndarray
    unique_ids: np.ndarray
    zip_prefix: np.ndarray
    city: np.ndarray
    state: np.ndarray
    rows: list[tuple]
    geolocation: list[tuple]


def _build_customers(
    rng: np.random.Generator, count: int, pool: CustomerPool, zips: ZipRegistry
) -> _Customers:
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
    rows = list(
        zip(
            customer_ids.tolist(),
            unique_ids.tolist(),
            zip_prefixes(zip_prefix),
            city.tolist(),
            GEOGRAPHY.state_codes[state].tolist(),
            strict=True,
        )
    )
    return _Customers(customer_ids, unique_ids, zip_prefix, city, state, rows, geolocation)


# --------------------------------------------------------------------------------------------
# Orders, items, payments, reviews


@dataclass
class OrderBatch:
    """Rows of a batch of complete orders, ready for :func:`write_tables`."""

    rows: Rows
    orders: int
    items: int


def build_order_batch(
    rng: np.random.Generator,
    purchase_us: np.ndarray,
    catalogue: Catalogue,
    pool: CustomerPool,
    zips: ZipRegistry,
) -> OrderBatch:
    """Build one order per purchase time (microseconds since the epoch, ascending).

    Each order gets its customer (new, or a returning person from ``pool``), its items, its
    payments (summing to the items' price plus freight) and, when it was delivered or went
    wrong, its review. Status and dates follow the real life cycle: a status never carries a
    date it cannot have (a ``shipped`` order has no delivery date, a ``created`` one no
    approval).
    """
    count = len(purchase_us)
    purchase = np.asarray(purchase_us, dtype=np.int64)
    customers = _build_customers(rng, count, pool, zips)
    order_ids = random_ids(rng, count)
    customer_state = customers.state

    # Status and the dates it implies.
    status = _STATUSES[draw(rng, _STATUS_CDF, count)]
    primary_payment = _PAYMENT_TYPES[draw(rng, _PAYMENT_CDF, count)]
    is_boleto = primary_payment == "boleto"
    # Cards and vouchers are approved in minutes; a boleto is paid and cleared in a day or two.
    approval_delay = np.where(
        is_boleto,
        _lognormal(rng, 26.0 * US_PER_HOUR, 0.6, count),
        _lognormal(rng, 20.0 * 60 * US_PER_SECOND, 1.1, count),
    )
    approval_delay = np.maximum(approval_delay, 30 * US_PER_SECOND)
    approved = purchase + _seconds(approval_delay)
    has_approval = status != "created"
    has_approval &= ~((status == "canceled") & (rng.random(count) < 0.15))

    state_days = GEOGRAPHY.state_delivery_days[customer_state]
    transit_days = np.maximum(_lognormal(rng, state_days, 0.5, count), 1.0)
    delivered = np.maximum(purchase + _seconds(transit_days * US_PER_DAY), approved + US_PER_DAY)
    carrier = approved + _seconds((delivered - approved) * rng.uniform(0.1, 0.4, count))
    estimate_days = np.maximum(np.round(_lognormal(rng, state_days * 2.4, 0.3, count)), 3)
    estimated = _floor_day(purchase) + estimate_days.astype(np.int64) * US_PER_DAY

    has_carrier = (status == "delivered") | (status == "shipped")
    has_delivery = status == "delivered"
    approved_out = np.where(has_approval, approved, NULL_TIMESTAMP)
    carrier_out = np.where(has_carrier, carrier, NULL_TIMESTAMP)
    delivered_out = np.where(has_delivery, delivered, NULL_TIMESTAMP)
    shipping_base = np.where(has_approval, approved, purchase)

    # Items: most orders have one; further items often repeat the item before.
    items_per_order = 1 + draw(rng, _ITEMS_CDF, count)
    item_total = int(items_per_order.sum())
    item_order = np.repeat(np.arange(count), items_per_order)
    order_first_item = np.cumsum(items_per_order) - items_per_order
    item_number = np.arange(item_total) - order_first_item[item_order] + 1
    drawn_product = draw(rng, catalogue.product_cdf, item_total)
    repeats = (item_number > 1) & (rng.random(item_total) < ref.REPEAT_PRODUCT_SHARE)
    source_item = np.maximum.accumulate(np.where(repeats, 0, np.arange(item_total)))
    product = drawn_product[source_item]
    seller = catalogue.product_seller[product]
    price = catalogue.product_price_cents[product]
    item_state = customer_state[item_order]
    distance = 0.6 + 0.04 * GEOGRAPHY.state_delivery_days[item_state]
    distance = np.where(catalogue.seller_state[seller] == item_state, distance * 0.85, distance)
    weight_kg = catalogue.product_weight_g[product] / 1000.0
    freight = np.round(
        _lognormal(rng, (1250.0 + 450.0 * weight_kg**0.7) * distance, 0.3, item_total)
    ).astype(np.int64)
    shipping_limit = shipping_base + _seconds(_lognormal(rng, 6.0 * US_PER_DAY, 0.25, count))
    order_total = np.bincount(item_order, weights=price + freight, minlength=count).astype(np.int64)

    payment_rows = _build_payments(rng, order_ids, primary_payment, order_total)

    # Reviews: every delivered order, most orders that went wrong, none still in progress.
    late = has_delivery & (delivered > estimated)
    reviewed = has_delivery.copy()
    went_wrong = (status == "shipped") | (status == "canceled") | (status == "unavailable")
    reviewed |= went_wrong & (rng.random(count) < 0.8)
    score = (
        np.where(
            late,
            draw(rng, _LATE_SCORE_CDF, count),
            np.where(
                has_delivery,
                draw(rng, _ON_TIME_SCORE_CDF, count),
                draw(rng, _UNDELIVERED_SCORE_CDF, count),
            ),
        )
        + 1
    )
    review_created = np.where(has_delivery, _floor_day(delivered), estimated) + US_PER_DAY
    review_answered = review_created + _seconds(
        np.maximum(_lognormal(rng, 1.3 * US_PER_DAY, 0.9, count), US_PER_HOUR)
    )
    review_rows = _build_reviews(
        rng, order_ids[reviewed], score[reviewed], review_created[reviewed],
        review_answered[reviewed],
    )  # fmt: skip

    rows: Rows = {table: [] for table in TABLE_COLUMNS}
    rows["geolocation"] = customers.geolocation
    rows["customers"] = customers.rows
    rows["orders"] = list(
        zip(
            order_ids.tolist(),
            customers.ids.tolist(),
            status.tolist(),
            timestamps(purchase),
            timestamps(approved_out),
            timestamps(carrier_out),
            timestamps(delivered_out),
            timestamps(estimated),
            strict=True,
        )
    )
    rows["order_items"] = list(
        zip(
            order_ids[item_order].tolist(),
            item_number.tolist(),
            catalogue.product_ids[product].tolist(),
            catalogue.seller_ids[seller].tolist(),
            timestamps(shipping_limit[item_order]),
            money(price),
            money(freight),
            strict=True,
        )
    )
    rows["order_payments"] = payment_rows
    rows["order_reviews"] = review_rows
    return OrderBatch(rows=rows, orders=count, items=item_total)


def _build_payments(
    rng: np.random.Generator,
    order_ids: np.ndarray,
    primary_payment: np.ndarray,
    order_total: np.ndarray,
) -> list[tuple]:
    """Payment rows whose values add up to each order's total, to the cent.

    The first payment is the order's main type; credit card orders sometimes add vouchers
    (payment_sequential 2, 3, ...). Voucher-only orders use one or two vouchers.
    """
    count = len(order_ids)
    is_card = primary_payment == "credit_card"
    voucher_only = primary_payment == "voucher"
    extra = np.where(
        is_card & (rng.random(count) < ref.EXTRA_VOUCHER_SHARE),
        1 + draw(rng, _EXTRA_VOUCHERS_CDF, count),
        0,
    )
    extra = np.where(voucher_only, draw(rng, _VOUCHER_ONLY_CDF, count), extra)
    payments_per_order = 1 + extra
    total_rows = int(payments_per_order.sum())
    row_order = np.repeat(np.arange(count), payments_per_order)
    first_row = np.cumsum(payments_per_order) - payments_per_order
    sequential = np.arange(total_rows) - first_row[row_order] + 1
    payment_type = np.where(sequential == 1, primary_payment[row_order], "voucher").astype(object)

    # One row per order takes the remainder: the main payment, or a voucher-only order's last
    # voucher. The other rows take a share of the total.
    last_row = np.cumsum(payments_per_order) - 1
    takes_remainder = np.zeros(total_rows, dtype=bool)
    takes_remainder[np.where(voucher_only, last_row, first_row)] = True
    share = np.where(
        voucher_only[row_order],
        rng.uniform(0.2, 0.8, total_rows),
        rng.uniform(0.05, 0.6, total_rows) / np.maximum(extra[row_order], 1),
    )
    total = order_total[row_order]
    value = np.where(takes_remainder, 0, np.floor(total * share).astype(np.int64))
    shared = np.bincount(row_order, weights=value, minlength=count).astype(np.int64)
    value = np.where(takes_remainder, total - shared[row_order], value)

    installments = np.where(
        payment_type == "credit_card", 1 + draw(rng, _INSTALLMENTS_CDF, total_rows), 1
    )
    return list(
        zip(
            order_ids[row_order].tolist(),
            sequential.tolist(),
            payment_type.tolist(),
            installments.tolist(),
            money(value),
            strict=True,
        )
    )


def _build_reviews(
    rng: np.random.Generator,
    order_ids: np.ndarray,
    score: np.ndarray,
    created: np.ndarray,
    answered: np.ndarray,
) -> list[tuple]:
    count = len(order_ids)
    review_ids = random_ids(rng, count)
    has_message = rng.random(count) < ref.REVIEW_MESSAGE_SHARE
    has_title = rng.random(count) < ref.REVIEW_TITLE_SHARE
    choice = rng.random(count)
    messages: list[str | None] = []
    titles: list[str | None] = []
    for value, with_message, with_title, pick in zip(
        score.tolist(), has_message.tolist(), has_title.tolist(), choice.tolist(), strict=True
    ):
        pool = ref.REVIEW_COMMENTS[value]
        messages.append(pool[int(pick * len(pool))] if with_message else None)
        titles.append(ref.REVIEW_TITLES[int(pick * len(ref.REVIEW_TITLES))] if with_title else None)
    return list(
        zip(
            review_ids.tolist(),
            order_ids.tolist(),
            score.tolist(),
            titles,
            messages,
            timestamps(created),
            timestamps(answered),
            strict=True,
        )
    )


def draw_purchase_times(rng: np.random.Generator, count: int) -> np.ndarray:
    """Purchase instants (microseconds, ascending) spread like the real monthly volume."""
    month = draw(rng, _MONTH_CDF, count)
    day = np.floor(rng.random(count) * _MONTH_DAYS[month]).astype(np.int64)
    hour = draw(rng, _HOUR_CDF, count)
    second = rng.integers(0, 3600, count)
    instants = (
        _MONTH_START_US[month] + day * US_PER_DAY + hour * US_PER_HOUR + second * US_PER_SECOND
    )
    return np.sort(instants)


# --------------------------------------------------------------------------------------------
# Writing


async def write_category_translations(connection: asyncpg.Connection) -> int:
    """Insert the 71 category translations that are missing; return how many were new."""
    status = await connection.execute(
        """
        INSERT INTO olist.product_category_name_translation
            (product_category_name, product_category_name_english)
        SELECT * FROM unnest($1::text[], $2::text[])
        ON CONFLICT (product_category_name) DO NOTHING
        """,
        [name for name, _ in ref.CATEGORY_TRANSLATIONS],
        [english for _, english in ref.CATEGORY_TRANSLATIONS],
    )
    return int(status.rsplit(" ", 1)[-1])


async def write_tables(connection: asyncpg.Connection, rows: Rows) -> dict[str, int]:
    """COPY the rows into their tables in foreign-key order; return rows written per table.

    Runs inside the caller's transaction. Geolocation rows are numbered here, under an
    advisory lock, from the table's current maximum id, so concurrent writers never clash.
    """
    written: dict[str, int] = {}
    for table, columns in TABLE_COLUMNS.items():
        records = rows.get(table) or []
        if not records:
            written[table] = 0
            continue
        if table == "geolocation":
            await connection.execute("SELECT pg_advisory_xact_lock($1)", GEOLOCATION_LOCK_KEY)
            first_id = await connection.fetchval(
                "SELECT coalesce(max(geolocation_id), 0) + 1 FROM olist.geolocation"
            )
            records = [(first_id + number, *row) for number, row in enumerate(records)]
        copy_started = time.monotonic()
        await connection.copy_records_to_table(
            table, schema_name="olist", columns=list(columns), records=records
        )
        written[table] = len(records)
        log.debug(
            "copied table=%s rows=%d seconds=%.3f",
            table, len(records), time.monotonic() - copy_started,
        )  # fmt: skip
    return written


async def require_schema(connection: asyncpg.Connection) -> None:
    """Raise :class:`SchemaMissingError` unless the Olist tables exist."""
    found = await connection.fetchval("SELECT to_regclass('olist.order_items') IS NOT NULL")
    if not found:
        raise SchemaMissingError(
            "expected the Olist schema (table olist.order_items) in the target database, "
            "found none; run `olist db init` first"
        )


# --------------------------------------------------------------------------------------------
# The generate command


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
