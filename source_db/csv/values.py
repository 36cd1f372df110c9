"""Converters from one CSV field (a string) to the Python value stored in PostgreSQL.

Each converter either returns the value (``None`` for an empty optional field) or raises
:class:`BadValue` with a short *problem* (the report groups rejected rows by it) and a message
quoting what was found. They run once per field of ~1.5 million rows, so the common case takes
the fastest path the standard library offers (``str.isdigit``, ``datetime.fromisoformat``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from schemas.order_event import BRAZILIAN_STATES, ORDER_STATUSES, PAYMENT_TYPES
from schemas.warehouse import SOURCE_TIME_ZONE

Converter = Callable[[str], object]

ZIP_PREFIX_DIGITS = 5
TIMESTAMP_FORMAT = "YYYY-MM-DD HH:MM:SS"

_OLIST_ID = re.compile(r"[0-9a-f]{32}")
# numeric(12, 2): at most 10 digits before the point and 2 after it.
_MONEY = re.compile(r"-?[0-9]{1,10}(\.[0-9]{1,2})?")
_INTEGRAL_FLOAT = re.compile(r"-?[0-9]+\.0*")
_STATES = frozenset(BRAZILIAN_STATES)
_INTEGER_MAX_CHARACTERS = 30


class BadValue(ValueError):
    """A field that cannot be stored; ``problem`` names the kind of fault, without the value."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def text(value: str) -> str:
    """Required free text (city names, category names)."""
    if not value:
        raise BadValue("empty", "expected a value, found an empty field")
    return value


def optional_text(value: str) -> str | None:
    """Free text where an empty field means NULL (review comments, product category)."""
    return value or None


def olist_id(value: str) -> str:
    """An Olist id: 32 lowercase hex characters (an md5), as the event schema requires."""
    if _OLIST_ID.fullmatch(value) is None:
        raise BadValue(
            "not a 32-character lowercase hex id",
            f"expected 32 lowercase hex characters, found {_shown(value)}",
        )
    return value


def zip_prefix(value: str) -> str:
    """A 5-digit zip prefix, kept as a string.

    A prefix of 1 to 4 digits lost its leading zeros to a spreadsheet (every Brazilian prefix
    has 5 digits), so it is left-padded back to 5; anything else is rejected.
    """
    if value.isascii() and value.isdigit():
        if len(value) == ZIP_PREFIX_DIGITS:
            return value
        if len(value) < ZIP_PREFIX_DIGITS:
            return value.zfill(ZIP_PREFIX_DIGITS)
    raise BadValue(
        "not a zip code prefix of 5 digits",
        f"expected 5 digits (or 1 to 4 digits, left-padded with zeros), found {_shown(value)}",
    )


def state(value: str) -> str:
    """A Brazilian state code (UF), e.g. ``SP``."""
    if value not in _STATES:
        raise BadValue(
            "not a Brazilian state code",
            f"expected a state code (UF) in capitals such as SP or RJ, found {_shown(value)}",
        )
    return value


def _one_of(allowed: tuple[str, ...], what: str) -> Converter:
    members = frozenset(allowed)

    def convert(value: str) -> str:
        if value not in members:
            raise BadValue(
                f"unknown {what}", f"expected one of {', '.join(allowed)}, found {_shown(value)}"
            )
        return value

    return convert


order_status = _one_of(ORDER_STATUSES, "order status")
payment_type = _one_of(PAYMENT_TYPES, "payment type")


def _parse_integer(value: str) -> int:
    if len(value) > _INTEGER_MAX_CHARACTERS:
        # int() refuses strings past 4,300 digits with a ValueError of its own.
        raise BadValue("out of range", f"expected a whole number, found {_shown(value)}")
    if value.isascii() and value.isdigit():
        return int(value)
    if value.startswith("-") and value[1:].isascii() and value[1:].isdigit():
        return int(value)
    # Tools that pass numbers through floats write "700.0"; the value is still a whole number.
    if _INTEGRAL_FLOAT.fullmatch(value) is not None:
        return int(value.split(".", 1)[0])
    raise BadValue("not an integer", f"expected a whole number, found {_shown(value)}")


def integer(minimum: int, maximum: int | None = None, *, nullable: bool = False) -> Converter:
    """A whole number in ``[minimum, maximum]``; ``"700.0"`` is read as 700, ``"12.5"`` refused."""
    upper = maximum if maximum is not None else 2**31 - 1

    def convert(value: str) -> int | None:
        if not value:
            if nullable:
                return None
            raise BadValue("empty", "expected a whole number, found an empty field")
        number = _parse_integer(value)
        if not minimum <= number <= upper:
            bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
            raise BadValue(
                "out of range", f"expected a whole number {bounds}, found {_shown(value)}"
            )
        return number

    return convert


def money(value: str) -> Decimal:
    """A non-negative amount in BRL with at most 2 decimals (``numeric(12, 2)``)."""
    if _MONEY.fullmatch(value) is None:
        raise BadValue(
            "not an amount",
            f"expected an amount like 118.70 (at most 2 decimals), found {_shown(value)}",
        )
    if value.startswith("-"):
        raise BadValue("negative", f"expected an amount of 0 or more, found {_shown(value)}")
    return Decimal(value)


def coordinate(limit: float) -> Converter:
    """A latitude (``limit`` 90) or longitude (``limit`` 180) in decimal degrees."""

    def convert(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise BadValue(
                "not a number", f"expected decimal degrees, found {_shown(value)}"
            ) from None
        # NaN compares false and infinities are out of range, so both are refused here.
        if not -limit <= number <= limit:
            raise BadValue(
                "out of range",
                f"expected decimal degrees from -{limit:g} to {limit:g}, found {_shown(value)}",
            )
        return number

    return convert


@cache
def _utc_offset(local_hour: str) -> str:
    """The UTC offset (``-03:00``) of São Paulo wall-clock time at ``YYYY-MM-DD HH``.

    Offsets change only on the hour (Brazil's daylight saving time, until 2019), so one lookup
    per distinct hour serves every timestamp in it. A wall-clock time that occurs twice (the
    hour before daylight saving ends) is read as the first; one skipped when it starts, with
    the offset before the change.
    """
    moment = datetime.fromisoformat(local_hour + ":00:00").replace(tzinfo=_SOURCE_ZONE)
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_SOURCE_ZONE = ZoneInfo(SOURCE_TIME_ZONE)


def _parse_timestamp(value: str) -> datetime:
    # fromisoformat alone also accepts "2017-10-02", "20171002T1056" or an offset; the dataset
    # has exactly one shape, and anything else means the file was rewritten by some tool.
    if not (len(value) == 19 and value[10] == " " and value[4] == "-" and value[13] == ":"):
        raise _not_a_timestamp(value)
    try:
        # Appending the offset is several times cheaper than datetime.replace(tzinfo=...)
        # (docs/operations/loading-csv.md#measurements); the offset is São Paulo's at that
        # wall-clock time, so the value stored is the instant it was there.
        return datetime.fromisoformat(value + _utc_offset(value[:13]))
    except ValueError:
        raise _not_a_timestamp(value) from None


def _not_a_timestamp(value: str) -> BadValue:
    return BadValue(
        "not a timestamp", f"expected {TIMESTAMP_FORMAT} (São Paulo time), found {_shown(value)}"
    )


def timestamp(value: str) -> datetime:
    """A required ``YYYY-MM-DD HH:MM:SS`` São Paulo wall-clock time, as the instant it was."""
    if not value:
        raise BadValue("empty", f"expected {TIMESTAMP_FORMAT}, found an empty field")
    return _parse_timestamp(value)


def optional_timestamp(value: str) -> datetime | None:
    """Like :func:`timestamp`, where an empty field means NULL."""
    return _parse_timestamp(value) if value else None
