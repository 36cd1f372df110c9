"""The files the dashboard inlines: the Brazil states map is small, complete and licensed."""

from __future__ import annotations

import datetime
import json

from analytics.dashboard.data import DashboardData
from analytics.dashboard.render import ASSETS, BRAZIL_STATES, render_dashboard

STATE_CODES = {
    *("AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA"),
    *("PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"),
}


def test_brazil_map_holds_the_27_federative_units_by_code_in_under_100_kb() -> None:
    collection = json.loads(BRAZIL_STATES.read_text())
    names = [feature["properties"]["name"] for feature in collection["features"]]
    assert collection["type"] == "FeatureCollection"
    assert sorted(names) == sorted(STATE_CODES)
    assert {f["geometry"]["type"] for f in collection["features"]} <= {"Polygon", "MultiPolygon"}
    assert BRAZIL_STATES.stat().st_size < 100_000
    licence = (ASSETS / "brazil-states-LICENSE.txt").read_text()
    assert "Natural Earth" in licence and "public domain" in licence and "ISC License" in licence


def test_the_page_inlines_the_map_and_registers_it_with_echarts() -> None:
    panels: dict[str, list[dict[str, object]]] = {
        name: []
        for name in (
            "monthly",
            "categories",
            "states",
            "delay_reviews",
            "payment_mix",
            "sellers",
            "areas",
        )
    }
    kpis = dict.fromkeys(
        ("revenue", "orders", "avg_order_value", "late_share", "avg_review_score", "customers"), 1
    )
    page = render_dashboard(
        DashboardData(kpis=kpis, panels=panels), "p.d", datetime.datetime(2026, 1, 1)
    )
    assert "__BRAZIL_STATES__" not in page
    assert 'const BRAZIL_STATES = {"type":"FeatureCollection"' in page
    assert 'echarts.registerMap("brazil", BRAZIL_STATES)' in page
    assert "https://" not in page.split("<script>", 1)[0]  # no stylesheet or font from a CDN
