"""The reference data (:mod:`source_db.synthetic.reference_data`) as numpy arrays and cumulative
distributions, and the draws the row builders make from them.

Everything here is computed once, at import: the shares of the real dataset normalised into
cumulative weights (``*_CDF``) that :func:`draw` samples, and the cities of every state
flattened into :data:`GEOGRAPHY`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from source_db.synthetic import reference_data as ref


def to_cdf(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Weights (they need not sum to one) as the cumulative distribution :func:`draw` takes."""
    values = np.asarray(weights, dtype=np.float64)
    cumulative = np.cumsum(values)
    return cumulative / float(cumulative[-1])


def draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` indexes from the distribution whose cumulative weights are ``cdf``."""
    picks = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(picks, len(cdf) - 1)


def lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, size: int
) -> np.ndarray:
    """``size`` log-normal draws around ``median`` (one median, or one per draw)."""
    return np.asarray(median, dtype=np.float64) * np.exp(sigma * rng.standard_normal(size))


@dataclass(frozen=True)
class Geography:
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


def _build_geography() -> Geography:
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
    return Geography(
        state_codes=np.array([state.code for state in ref.STATES], dtype=object),
        state_delivery_days=np.array([state.median_delivery_days for state in ref.STATES]),
        city_names=np.array(names, dtype=object),
        city_state=np.array(states, dtype=np.int64),
        zip_first=np.array(first, dtype=np.int64),
        zip_last=np.array(last, dtype=np.int64),
        latitude=np.array(lat),
        longitude=np.array(lng),
        customer_city_cdf=to_cdf(customer_w),
        seller_city_cdf=to_cdf(seller_w),
        state_index={state.code: number for number, state in enumerate(ref.STATES)},
    )


GEOGRAPHY = _build_geography()
CATEGORY_NAMES: tuple[str, ...] = tuple(name for name, _ in ref.CATEGORY_TRANSLATIONS)
CATEGORY_CDF = to_cdf(
    [ref.CATEGORY_ITEM_WEIGHTS[name] for name in CATEGORY_NAMES]
    + [ref.UNCATEGORISED_PRODUCT_SHARE / (1 - ref.UNCATEGORISED_PRODUCT_SHARE)
       * sum(ref.CATEGORY_ITEM_WEIGHTS.values())]
)  # fmt: skip
"""Category of a product: index into CATEGORY_NAMES, or len(CATEGORY_NAMES) for none."""
CATEGORY_PRICE_FACTOR = np.array(
    [ref.CATEGORY_PRICE_FACTORS.get(name, 1.0) for name in CATEGORY_NAMES] + [1.0]
)
STATUSES = np.array(list(ref.ORDER_STATUS_WEIGHTS), dtype=object)
STATUS_CDF = to_cdf(list(ref.ORDER_STATUS_WEIGHTS.values()))
PAYMENT_TYPES = np.array(list(ref.PRIMARY_PAYMENT_WEIGHTS), dtype=object)
PAYMENT_CDF = to_cdf(list(ref.PRIMARY_PAYMENT_WEIGHTS.values()))
ITEMS_CDF = to_cdf(ref.ITEMS_PER_ORDER_WEIGHTS)
INSTALLMENTS_CDF = to_cdf(ref.CREDIT_CARD_INSTALLMENT_WEIGHTS)
EXTRA_VOUCHERS_CDF = to_cdf(ref.EXTRA_VOUCHER_COUNT_WEIGHTS)
VOUCHER_ONLY_CDF = to_cdf(ref.VOUCHER_ONLY_COUNT_WEIGHTS)
HOUR_CDF = to_cdf(ref.HOUR_OF_DAY_WEIGHTS)
MONTH_CDF = to_cdf([orders for _, _, orders in ref.MONTHLY_ORDER_WEIGHTS])
MONTHS = np.array(
    [f"{year:04d}-{month:02d}" for year, month, _ in ref.MONTHLY_ORDER_WEIGHTS],
    dtype="datetime64[M]",
)
MONTH_START_US = MONTHS.astype("datetime64[us]").astype(np.int64)
MONTH_DAYS = ((MONTHS + 1).astype("datetime64[D]") - MONTHS.astype("datetime64[D]")).astype(
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
    return to_cdf(on_time), to_cdf(late), to_cdf(ref.UNDELIVERED_REVIEW_SCORE_WEIGHTS)


ON_TIME_SCORE_CDF, LATE_SCORE_CDF, UNDELIVERED_SCORE_CDF = _review_score_cdfs()
LET_DOWN_SCORE_CDF = to_cdf(ref.VERY_LATE_REVIEW_SCORE_WEIGHTS)


def let_down_share(delay_days: np.ndarray) -> np.ndarray:
    """Probability that a delivered order's review is a let-down one, by delivery delay in
    days (delivery date minus estimated date; negative: early). Rises with the delay, so the
    mean score falls as the delay grows instead of stepping once at the estimated date."""
    delay = np.asarray(delay_days, dtype=np.float64)
    early = np.clip((delay + 7.0) / 7.0, 0.0, 1.0) * ref.LET_DOWN_SHARE_AT_ESTIMATE
    late = np.minimum(
        ref.LET_DOWN_SHARE_MAX,
        ref.LET_DOWN_SHARE_FIRST_LATE_DAY + ref.LET_DOWN_SHARE_PER_LATE_DAY * (delay - 1.0),
    )
    result: np.ndarray = np.where(delay > 0, late, early)
    return result
