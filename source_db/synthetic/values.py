"""Time units and the conversions from numpy columns to the values PostgreSQL stores: ids, zip
prefixes, timestamps, money amounts and nullable columns."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR
NULL_TIMESTAMP = np.iinfo(np.int64).min
"""Missing timestamp in an int64 microsecond column: it is NaT once viewed as datetime64."""


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


def floor_day(microseconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Midnight (UTC) of each instant, in microseconds since the epoch."""
    return microseconds - microseconds % US_PER_DAY


def whole_seconds(values_us: np.ndarray) -> np.ndarray:
    """Round durations or instants to whole seconds, as the dataset's timestamps are."""
    return np.round(values_us / US_PER_SECOND).astype(np.int64) * US_PER_SECOND


def nullable(values: np.ndarray, present: np.ndarray) -> list[object]:
    """The values as a list, ``None`` where ``present`` is false."""
    out = values.astype(object)
    out[~present] = None
    as_list: list[object] = out.tolist()
    return as_list
