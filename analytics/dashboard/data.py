"""What the dashboard shows: one query per panel, each on the analytics views.

:func:`dashboard_data` runs them all and returns plain JSON-ready values (NUMERIC as float,
DATE as ISO text) for the page, and the raw ``kpis`` row for the tiles' formatting.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery

PANEL_QUERIES: dict[str, str] = {
    "monthly": """
        SELECT month, revenue, orders, avg_order_value FROM {dataset}.sales_monthly
        ORDER BY month""",
    "categories": """
        SELECT category, SUM(revenue) AS revenue, SUM(items) AS items
        FROM {dataset}.revenue_by_category_month
        GROUP BY category ORDER BY revenue DESC, category LIMIT 10""",
    "states": """
        SELECT customer_state, SUM(revenue) AS revenue, SUM(orders) AS orders
        FROM {dataset}.revenue_by_state_month
        GROUP BY customer_state ORDER BY revenue DESC, customer_state""",
    "delay_reviews": """
        SELECT delivery, orders, avg_review_score FROM {dataset}.reviews_by_delivery_delay
        ORDER BY bucket_order""",
    "payment_mix": """
        SELECT payment_mix, orders, payment_total, payment_share FROM {dataset}.payment_mix
        ORDER BY payment_total DESC, payment_mix""",
    "sellers": """
        SELECT seller_id, seller_state, orders, items, revenue, late_share, avg_review_score,
               customer_states
        FROM {dataset}.seller_scorecard ORDER BY revenue DESC, seller_id LIMIT 10""",
    "areas": """
        SELECT zip_code_prefix, customer_state, city, latitude, longitude, orders, revenue
        FROM {dataset}.geography_by_zip_prefix WHERE latitude IS NOT NULL""",
}
"""Panel -> query; ``{dataset}`` is the quoted ``project.dataset``."""


@dataclass(frozen=True)
class DashboardData:
    """The tiles' row (values as BigQuery returned them) and every panel's rows, JSON-ready."""

    kpis: dict[str, Any]
    panels: dict[str, list[dict[str, Any]]]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def dashboard_data(client: bigquery.Client, project: str, dataset: str) -> DashboardData:
    """Run every panel's query and the ``kpis`` view on ``project.dataset``."""
    quoted = f"`{project}.{dataset}`"

    def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(row.items()) for row in client.query(sql.format(dataset=quoted)).result()]

    (kpis,) = rows("SELECT * FROM {dataset}.kpis")
    panels = {
        name: [{k: _plain(v) for k, v in row.items()} for row in rows(sql)]
        for name, sql in PANEL_QUERIES.items()
    }
    return DashboardData(kpis=kpis, panels=panels)
