"""Numbers for people: what the dashboard and ``olist local-run`` print for BigQuery's values."""

from __future__ import annotations

import datetime
from decimal import Decimal

from analytics import formatting


def test_money_counts_and_shares_are_formatted_for_people() -> None:
    assert formatting.brl(Decimal("100700.890000000")) == "R$ 100,700.89"
    assert formatting.brl(-1234.5) == "-R$ 1,234.50"
    assert formatting.count(1234567) == "1,234,567"
    assert formatting.percent(0.04895104895) == "4.9%"
    assert formatting.decimal(4.114864) == "4.11"
    assert [formatting.brl(None), formatting.count(None), formatting.percent(None)] == ["", "", ""]


def test_a_cell_is_formatted_by_what_its_column_name_says() -> None:
    assert formatting.cell("revenue_brl", Decimal("3316.380000000")) == "R$ 3,316.38"
    assert formatting.cell("avg_order_value", Decimal("111.777666667")) == "R$ 111.78"
    assert formatting.cell("late_share", 0.041) == "4.1%"
    assert formatting.cell("revenue_growth", Decimal("-0.25")) == "-25.0%"
    assert formatting.cell("items", 12345) == "12,345"
    assert formatting.cell("orders", Decimal("300")) == "300"
    assert formatting.cell("avg_delivery_days", 7.9) == "7.90"
    assert formatting.cell("month", datetime.date(2018, 1, 1)) == "2018-01-01"
    assert formatting.cell("customer_state", "SP") == "SP"
    assert formatting.cell("delivered_late", True) == "True"
    assert formatting.cell("review_score", None) == ""
