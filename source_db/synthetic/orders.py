"""Orders with their items, payments and reviews, and the purchase times they are bought at."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from source_db.synthetic import reference_data as ref
from source_db.synthetic.catalogue import Catalogue
from source_db.synthetic.customers import CustomerPool, build_customers
from source_db.synthetic.distributions import (
    EXTRA_VOUCHERS_CDF,
    GEOGRAPHY,
    HOUR_CDF,
    INSTALLMENTS_CDF,
    ITEMS_CDF,
    LET_DOWN_SCORE_CDF,
    MONTH_CDF,
    MONTH_DAYS,
    MONTH_START_US,
    ON_TIME_SCORE_CDF,
    PAYMENT_CDF,
    PAYMENT_TYPES,
    STATUS_CDF,
    STATUSES,
    UNDELIVERED_SCORE_CDF,
    VOUCHER_ONLY_CDF,
    draw,
    let_down_share,
    lognormal,
)
from source_db.synthetic.geolocation import ZipRegistry
from source_db.synthetic.tables import TABLE_COLUMNS, Row, Rows
from source_db.synthetic.values import (
    NULL_TIMESTAMP,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SECOND,
    floor_day,
    money,
    random_ids,
    timestamps,
    whole_seconds,
)


@dataclass
class OrderBatch:
    """Rows of a batch of complete orders, ready for :mod:`source_db.synthetic.writer`."""

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
    customers = build_customers(rng, count, pool, zips)
    order_ids = random_ids(rng, count)
    customer_state = customers.state

    # Status and the dates it implies.
    status = STATUSES[draw(rng, STATUS_CDF, count)]
    primary_payment = PAYMENT_TYPES[draw(rng, PAYMENT_CDF, count)]
    is_boleto = primary_payment == "boleto"
    # Cards and vouchers are approved in minutes; a boleto is paid and cleared in a day or two.
    approval_delay = np.where(
        is_boleto,
        lognormal(rng, 26.0 * US_PER_HOUR, 0.6, count),
        lognormal(rng, 20.0 * 60 * US_PER_SECOND, 1.1, count),
    )
    approval_delay = np.maximum(approval_delay, 30 * US_PER_SECOND)
    approved = purchase + whole_seconds(approval_delay)
    has_approval = status != "created"
    has_approval &= ~((status == "canceled") & (rng.random(count) < 0.15))

    state_days = GEOGRAPHY.state_delivery_days[customer_state]
    transit_days = np.maximum(lognormal(rng, state_days, 0.5, count), 1.0)
    delivered = np.maximum(
        purchase + whole_seconds(transit_days * US_PER_DAY), approved + US_PER_DAY
    )
    carrier = approved + whole_seconds((delivered - approved) * rng.uniform(0.1, 0.4, count))
    estimate_days = np.maximum(np.round(lognormal(rng, state_days * 2.4, 0.3, count)), 3)
    estimated = floor_day(purchase) + estimate_days.astype(np.int64) * US_PER_DAY

    has_carrier = (status == "delivered") | (status == "shipped")
    has_delivery = status == "delivered"
    approved_out = np.where(has_approval, approved, NULL_TIMESTAMP)
    carrier_out = np.where(has_carrier, carrier, NULL_TIMESTAMP)
    delivered_out = np.where(has_delivery, delivered, NULL_TIMESTAMP)
    shipping_base = np.where(has_approval, approved, purchase)

    # Items: most orders have one; further items often repeat the item before.
    items_per_order = 1 + draw(rng, ITEMS_CDF, count)
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
        lognormal(rng, (1250.0 + 450.0 * weight_kg**0.7) * distance, 0.3, item_total)
    ).astype(np.int64)
    shipping_limit = shipping_base + whole_seconds(lognormal(rng, 6.0 * US_PER_DAY, 0.25, count))
    order_total = np.bincount(item_order, weights=price + freight, minlength=count).astype(np.int64)

    payment_rows = _build_payments(rng, order_ids, primary_payment, order_total)

    # Reviews: every delivered order, most orders that went wrong, none still in progress.
    reviewed = has_delivery.copy()
    went_wrong = (status == "shipped") | (status == "canceled") | (status == "unavailable")
    reviewed |= went_wrong & (rng.random(count) < 0.8)
    # Delivered: the later the delivery against the promised day, the likelier a let-down
    # review (let_down_share), so the mean score falls as the delay grows.
    delay_days = (floor_day(delivered) - estimated) // US_PER_DAY
    let_down = rng.random(count) < let_down_share(delay_days)
    score = (
        np.where(
            has_delivery,
            np.where(
                let_down,
                draw(rng, LET_DOWN_SCORE_CDF, count),
                draw(rng, ON_TIME_SCORE_CDF, count),
            ),
            draw(rng, UNDELIVERED_SCORE_CDF, count),
        )
        + 1
    )
    review_created = np.where(has_delivery, floor_day(delivered), estimated) + US_PER_DAY
    review_answered = review_created + whole_seconds(
        np.maximum(lognormal(rng, 1.3 * US_PER_DAY, 0.9, count), US_PER_HOUR)
    )
    review_rows = build_reviews(
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
) -> list[Row]:
    """Payment rows whose values add up to each order's total, to the cent.

    The first payment is the order's main type; credit card orders sometimes add vouchers
    (payment_sequential 2, 3, ...). Voucher-only orders use one or two vouchers.
    """
    count = len(order_ids)
    is_card = primary_payment == "credit_card"
    voucher_only = primary_payment == "voucher"
    extra = np.where(
        is_card & (rng.random(count) < ref.EXTRA_VOUCHER_SHARE),
        1 + draw(rng, EXTRA_VOUCHERS_CDF, count),
        0,
    )
    extra = np.where(voucher_only, draw(rng, VOUCHER_ONLY_CDF, count), extra)
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
        payment_type == "credit_card", 1 + draw(rng, INSTALLMENTS_CDF, total_rows), 1
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


def build_reviews(
    rng: np.random.Generator,
    order_ids: np.ndarray,
    score: np.ndarray,
    created: np.ndarray,
    answered: np.ndarray,
) -> list[Row]:
    """Review rows (random ids, comments and titles drawn to match each score)."""
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
    month = draw(rng, MONTH_CDF, count)
    day = np.floor(rng.random(count) * MONTH_DAYS[month]).astype(np.int64)
    hour = draw(rng, HOUR_CDF, count)
    second = rng.integers(0, 3600, count)
    instants = (
        MONTH_START_US[month] + day * US_PER_DAY + hour * US_PER_HOUR + second * US_PER_SECOND
    )
    return np.sort(instants)
