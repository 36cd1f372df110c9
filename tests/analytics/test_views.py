"""Every analytics view on the BigQuery emulator equals the same figures computed on the source.

The warehouse is one pipeline run (``analytics_warehouse``, tests/fixtures/analytics.py); the
source figures are independent SQL on PostgreSQL (tests/analytics/source_figures.py). Counts
and money sums must be equal exactly; averages, shares and growth rates to a relative
tolerance of 1e-9 (docs/analytics.md, "How the views are tested").
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any

import pytest

from analytics.views import view_definitions
from tests.analytics.source_figures import (
    EXACT_SUMS,
    KEYS,
    RELATIVE_TOLERANCE,
    SOURCE_QUERIES,
    source_query,
)
from tests.fixtures.analytics import ORDERS, AnalyticsWarehouse

pytestmark = pytest.mark.slow

PARTIAL_VIEWS = {"orders"}
"""Views whose source query checks some of their columns (the rest are copied attributes)."""


def _same(column: str, actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if isinstance(expected, bool | str | datetime.date) or column in EXACT_SUMS:
        return bool(actual == expected)
    if isinstance(expected, int) or (isinstance(expected, Decimal) and isinstance(actual, int)):
        return bool(actual == expected)
    return math.isclose(float(actual), float(expected), rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)


def assert_rows_match(
    view: str, actual_rows: list[dict[str, Any]], expected_rows: list[dict[str, Any]]
) -> None:
    key = KEYS[view]
    actual = {tuple(row[k] for k in key): row for row in actual_rows}
    expected = {tuple(row[k] for k in key): row for row in expected_rows}
    assert len(actual) == len(actual_rows), f"{view}: duplicate keys {key}"
    assert actual.keys() == expected.keys(), view
    for row_key, expected_row in expected.items():
        actual_row = actual[row_key]
        if view not in PARTIAL_VIEWS:
            assert set(actual_row) == set(expected_row), view
        mismatches = {
            column: (actual_row[column], value)
            for column, value in expected_row.items()
            if not _same(column, actual_row[column], value)
        }
        assert not mismatches, f"{view} {dict(zip(key, row_key, strict=True))}: {mismatches}"


def test_every_view_file_has_a_source_computation() -> None:
    assert {v.name for v in view_definitions()} - {"order_items"} == set(SOURCE_QUERIES)


@pytest.mark.parametrize("view", sorted(SOURCE_QUERIES))
def test_view_equals_the_figures_computed_on_the_source_database(
    analytics_warehouse: AnalyticsWarehouse, view: str
) -> None:
    actual = analytics_warehouse.view(view)
    expected = analytics_warehouse.source(source_query(view))
    assert expected, f"{view}: the source query found nothing"
    assert_rows_match(view, actual, expected)


DATE_RANGE_FUNCTIONS = sorted(
    view.name for view in view_definitions() if view.function and view.name in SOURCE_QUERIES
)


def _middle_months(warehouse: AnalyticsWarehouse) -> tuple[datetime.date, datetime.date]:
    """Whole calendar months strictly inside the loaded purchase dates (data on both sides)."""
    (row,) = warehouse.pipeline.query(
        "SELECT MIN(purchase_date) AS first, MAX(purchase_date) AS last "
        f"FROM {warehouse.pipeline.table('order_items')}"
    )
    start = (row["first"].replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    after = row["last"].replace(day=1) - datetime.timedelta(days=1)  # end of the month before
    assert start < after, f"the loaded data spans too few months: {row}"
    return start, after


@pytest.mark.parametrize("view", DATE_RANGE_FUNCTIONS)
def test_date_range_function_equals_the_source_figures_of_those_purchase_dates(
    analytics_warehouse: AnalyticsWarehouse, view: str
) -> None:
    start, end = _middle_months(analytics_warehouse)
    function = analytics_warehouse.pipeline.table(f"{view}_between")
    actual = analytics_warehouse.pipeline.query(
        f"SELECT * FROM {function}(DATE '{start}', DATE '{end}')"
    )
    expected = analytics_warehouse.source(source_query(view, between=(start, end)))
    assert expected, f"{view}: the source query found nothing between {start} and {end}"
    everything = analytics_warehouse.source(source_query(view))
    assert expected != everything, f"{view}: the range {start}..{end} left nothing out"
    assert_rows_match(view, actual, expected)


def test_base_view_holds_every_loaded_item_once(analytics_warehouse: AnalyticsWarehouse) -> None:
    (row,) = analytics_warehouse.pipeline.query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d, COUNT(DISTINCT order_id) AS o "
        f"FROM {analytics_warehouse.pipeline.table('order_items')}"
    )
    (source,) = analytics_warehouse.source(
        "SELECT count(*) AS n, count(DISTINCT order_id) AS o FROM olist.order_events"
    )
    assert row["n"] == row["d"] == source["n"]
    assert row["o"] == source["o"] == ORDERS


def test_the_comparison_fails_on_a_wrong_sum_and_passes_within_the_tolerance() -> None:
    expected = [{"purchase_date": 1, "revenue": Decimal("10.00"), "avg_order_value": 1 / 3}]
    close = [
        {"purchase_date": 1, "revenue": Decimal("10.000000000"), "avg_order_value": 0.3333333333}
    ]
    assert_rows_match("sales_daily", close, expected)
    wrong = [{"purchase_date": 1, "revenue": Decimal("10.01"), "avg_order_value": 1 / 3}]
    with pytest.raises(AssertionError, match="revenue"):
        assert_rows_match("sales_daily", wrong, expected)
