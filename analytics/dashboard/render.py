"""The dashboard page: the template of ``assets/`` filled with the data, ECharts inlined.

Figures in the tiles and the seller table are formatted here (:mod:`analytics.formatting`);
the charts format theirs in the page with the same conventions (``R$ 1,234.56``, ``12.3%``).
"""

from __future__ import annotations

import datetime
import html
import json
from pathlib import Path
from typing import Any

from analytics import formatting
from analytics.dashboard.data import DashboardData

ASSETS = Path(__file__).resolve().parent / "assets"
ECHARTS = ASSETS / "echarts-6.1.0.min.js"
"""Apache ECharts 6.1.0 (npm package ``echarts``, ``dist/echarts.min.js``; Apache-2.0, licence
in ``assets/echarts-LICENSE.txt``)."""
BRAZIL_STATES = ASSETS / "brazil-states.json"
"""Brazil's 27 federative units as GeoJSON (``properties.name`` = the code customer_state holds),
simplified from Natural Earth (public domain; source and licence in
``assets/brazil-states-LICENSE.txt``), registered with ECharts as the map ``brazil``."""

KPI_TILES: tuple[tuple[str, str, Any], ...] = (
    ("revenue", "Revenue", formatting.brl),
    ("orders", "Orders", formatting.count),
    ("avg_order_value", "Average order value", formatting.brl),
    ("late_share", "Delivered late", formatting.percent),
    ("avg_review_score", "Average review", lambda v: f"{formatting.decimal(v)} / 5"),
    ("customers", "Customers", formatting.count),
)
"""(kpis column, label, formatter) of each tile, in order."""

SELLER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seller_id", "seller"),
    ("seller_state", "state"),
    ("orders", "orders"),
    ("items", "items"),
    ("revenue", "revenue"),
    ("late_share", "late"),
    ("avg_review_score", "review"),
    ("customer_states", "states served"),
)


def tile_values(kpis: dict[str, Any]) -> dict[str, str]:
    """The text of each KPI tile, by kpis column."""
    return {column: format_value(kpis[column]) for column, _, format_value in KPI_TILES}


def _tiles(kpis: dict[str, Any]) -> str:
    values = tile_values(kpis)
    return "\n".join(
        f'    <div class="tile" data-kpi="{column}"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(values[column])}</div></div>'
        for column, label, _ in KPI_TILES
    )


def _seller_table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in SELLER_COLUMNS)
    body = []
    for row in rows:
        cells = []
        for column, _ in SELLER_COLUMNS:
            value = row[column]
            if column == "seller_id":
                short = html.escape(value[:8])
                text = f'<td title="{html.escape(value)}"><code>{short}…</code></td>'
            elif column == "avg_review_score":
                text = f"<td>{formatting.decimal(value)}</td>"
            else:
                text = f"<td>{html.escape(formatting.cell(column, value))}</td>"
            cells.append(text)
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table id="seller-scorecard"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def render_dashboard(
    data: DashboardData,
    dataset: str,
    generated_at: datetime.datetime,
    refresh_seconds: float | None = None,
) -> str:
    """The whole page as one HTML string (no external resource)."""
    page = (ASSETS / "dashboard.html").read_text()
    refresh = (
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    )
    payload = json.dumps(data.panels, separators=(",", ":")).replace("</", "<\\/")
    replacements = {
        "__REFRESH__": refresh,
        "__DATASET__": html.escape(dataset),
        "__GENERATED__": generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        "__TILES__": _tiles(data.kpis),
        "__SELLERS__": _seller_table(data.panels["sellers"]),
        "__DATA__": payload,
        "__BRAZIL_STATES__": BRAZIL_STATES.read_text().strip().replace("</", "<\\/"),
    }
    for token, value in replacements.items():
        page = page.replace(token, value)
    # Last: the library's own text must not be searched for tokens.
    return page.replace("__ECHARTS__", ECHARTS.read_text())
