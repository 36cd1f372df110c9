"""Numbers for people: money in BRL, counts with thousands separators, shares as percentages.

Used by the dashboard's tiles and tables and by ``olist local-run``'s printed tables, so both
show ``R$ 100,700.89`` where BigQuery returns ``100700.890000000``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

MONEY_COLUMNS = ("revenue", "freight", "payment_total", "avg_order_value", "revenue_brl")
"""Columns (or suffixes of columns) holding BRL amounts."""
SHARE_COLUMNS = ("share", "rate", "growth", "retention")
"""Suffixes of columns holding a fraction of 1, shown as a percentage."""


def brl(value: Decimal | float | int | None) -> str:
    """``R$ 1,234.56``; an empty string for null."""
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}R$ {abs(Decimal(str(value))):,.2f}"


def count(value: int | float | Decimal | None) -> str:
    """``12,345``; an empty string for null."""
    return "" if value is None else f"{int(value):,}"


def percent(value: float | Decimal | None, digits: int = 1) -> str:
    """``12.3%`` for 0.123; an empty string for null."""
    return "" if value is None else f"{float(value) * 100:,.{digits}f}%"


def decimal(value: float | Decimal | None, digits: int = 2) -> str:
    """``4.07``: a mean or a ratio with ``digits`` decimals; an empty string for null."""
    return "" if value is None else f"{float(value):,.{digits}f}"


def _is(column: str, suffixes: tuple[str, ...]) -> bool:
    return any(column == suffix or column.endswith(suffix) for suffix in suffixes)


def cell(column: str, value: Any) -> str:
    """``value`` of ``column`` formatted by what the column's name says it holds."""
    if value is None:
        return ""
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if _is(column, MONEY_COLUMNS):
        return brl(value)
    if _is(column, SHARE_COLUMNS):
        return percent(value)
    if isinstance(value, int):
        return count(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return count(value)
    return decimal(value)
