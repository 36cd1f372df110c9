"""Time units and the conversions from numpy columns to the values PostgreSQL stores: ids, zip
prefixes, timestamps, money amounts and nullable columns.

The builders compute times as São Paulo wall-clock microseconds (the real data's hours of the
day, promised dates at local midnight); :func:`timestamps` turns them into the instants stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from schemas.warehouse import SOURCE_TIME_ZONE

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


_SOURCE_ZONE = ZoneInfo(SOURCE_TIME_ZONE)
_EPOCH = datetime(1970, 1, 1)


@cache
def _utc_offset_us(local_hour: int) -> int:
    """São Paulo's UTC offset, in microseconds, at the wall-clock hour ``local_hour`` (hours
    since the epoch, wall-clock); offsets change only on the hour."""
    moment = (_EPOCH + timedelta(hours=local_hour)).replace(tzinfo=_SOURCE_ZONE)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) * US_PER_SECOND


def utc_offsets_us(local_us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """São Paulo's UTC offset at each wall-clock instant (one zone lookup per distinct hour)."""
    hours, position = np.unique(local_us // US_PER_HOUR, return_inverse=True)
    offsets = np.array([_utc_offset_us(int(hour)) for hour in hours.tolist()], dtype=np.int64)
    return offsets[position.reshape(-1)]


def local_from_utc_us(utc_us: int) -> int:
    """São Paulo wall-clock microseconds of the instant ``utc_us`` (the simulator's "now")."""
    moment = (datetime.fromtimestamp(0, UTC) + timedelta(microseconds=utc_us)).astimezone(
        _SOURCE_ZONE
    )
    offset = moment.utcoffset()
    return utc_us + (0 if offset is None else int(offset.total_seconds()) * US_PER_SECOND)


def timestamps(local_us: np.ndarray) -> list[datetime | None]:
    """The instants (UTC datetimes) of São Paulo wall-clock microseconds since the epoch;
    ``NULL_TIMESTAMP`` gives ``None``."""
    values = local_us.astype(np.int64)
    present = values != NULL_TIMESTAMP
    utc = values.copy()
    utc[present] = values[present] - utc_offsets_us(values[present])
    naive = utc.view("datetime64[us]").tolist()
    return [None if value is None else value.replace(tzinfo=UTC) for value in naive]


def money(cents: np.ndarray) -> list[Decimal]:
    """BRL amounts with two decimals from integer cents."""
    return [Decimal(value).scaleb(-2) for value in cents.tolist()]


def floor_day(microseconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Midnight of each wall-clock time, in microseconds since the epoch."""
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
