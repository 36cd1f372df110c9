"""The dashboard built by ``olist dashboard --out DIR``, opened in headless Chromium.

Chromium is the Debian package ``chromium`` (scripts/bootstrap.sh installs it), driven by
Playwright through its executable path. The page must load from the file alone (no network),
log no console error, draw every chart with data, show the KPI tiles with the figures of the
``kpis`` view, and fit a phone's width. Screenshots go to ``.local/screenshots/`` (the README's
``docs/images/dashboard.png`` is a copy of the laptop one).
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from analytics.dashboard.render import KPI_TILES, tile_values
from harness.processes import free_port, wait_for_port, wait_until
from tests.fixtures.analytics import AnalyticsWarehouse

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".local" / "screenshots"
CHARTS = (
    "chart-monthly",
    "chart-categories",
    "chart-delay",
    "chart-state-map",
    "chart-states",
    "chart-areas",
    "chart-payments",
)
BRAZILIAN_STATES = (
    *("AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA"),
    *("PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"),
)
NO_ORDERS_GREY = "#e5e7eb"
"""The map's area colour (assets/dashboard.html) of a state without orders."""
VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def dashboard_file(
    analytics_warehouse: AnalyticsWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("dashboard")
    analytics_warehouse.pipeline.run("dashboard", "dashboard", "--out", str(out))
    return out / "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "Chromium is missing: apt-get install chromium (scripts/bootstrap.sh)"
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start as root with its sandbox (CI, containers).
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def _open(browser: Browser, dashboard_file: Path, viewport: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Any request leaving the file is refused: the page must work offline.
    page.route("http*://**", lambda route: route.abort())
    page.goto(dashboard_file.as_uri())
    page.wait_for_function("window.dashboardReady === true")
    return page, errors


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_dashboard_opens_offline_and_draws_every_chart_with_data(
    browser: Browser, dashboard_file: Path, viewport: str
) -> None:
    page, errors = _open(browser, dashboard_file, viewport)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{viewport}.png"), full_page=True)
    assert errors == []
    for chart in CHARTS:
        marks = page.locator(f"#{chart} svg path").count()
        points = page.evaluate(
            """(id) => echarts.getInstanceByDom(document.getElementById(id))
                 .getOption().series.map((s) => s.data.length)""",
            chart,
        )
        assert marks > 10, f"{chart}: {marks} SVG paths"
        assert points and min(points) > 0, f"{chart}: series sizes {points}"
    assert page.locator("#seller-scorecard tbody tr").count() > 0
    # Nothing wider than the screen: a phone scrolls down, never sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]
    page.close()


def _next_frames(page: Page) -> None:
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_a_viewport_shrunk_to_nothing_and_back_throws_nothing_and_redraws_the_map(
    browser: Browser, dashboard_file: Path
) -> None:
    # Playwright's full-page screenshot passes through a 1x1 window: ECharts' geo view threw
    # "Cannot read properties of null (reading '0')" from its resize there.
    page, errors = _open(browser, dashboard_file, "phone")
    page.set_viewport_size({"width": 1, "height": 1})
    _next_frames(page)
    page.set_viewport_size(VIEWPORTS["phone"])  # type: ignore[arg-type]
    _next_frames(page)
    assert errors == []
    width = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById("chart-state-map")).getWidth()"""
    )
    assert width == page.evaluate('document.getElementById("chart-state-map").clientWidth') > 0
    page.close()


def test_state_map_draws_brazil_and_colours_the_states_with_orders_by_revenue(
    browser: Browser, dashboard_file: Path
) -> None:
    page, errors = _open(browser, dashboard_file, "laptop")
    drawn = page.evaluate(
        """() => {
          const chart = echarts.getInstanceByDom(document.getElementById("chart-state-map"));
          const map = echarts.getMap("brazil").geoJson.features.map((f) => f.properties.name);
          const fills = [...document.querySelectorAll("#chart-state-map svg path")]
            .map((p) => p.getAttribute("fill"));
          // ECharts lists every region of the map; those with a value are the data.
          const valued = chart.getOption().series[0].data
            .filter((d) => typeof d.value === "number" && !Number.isNaN(d.value));
          return { map, states: DATA.states.map((r) => r.customer_state),
                   data: valued.length, fills };
        }"""
    )
    assert errors == []
    assert sorted(drawn["map"]) == sorted(BRAZILIAN_STATES)
    assert drawn["states"] and set(drawn["states"]) <= set(drawn["map"])
    assert drawn["data"] == len(drawn["states"])
    # One path per state at least (islands add more); states with orders get the revenue
    # scale's colours, those without keep the grey area colour.
    assert len(drawn["fills"]) >= 27
    coloured = set(drawn["fills"]) - {NO_ORDERS_GREY, None, "none", "transparent"}
    assert len(coloured) >= min(3, len(set(drawn["states"])))
    page.close()


def test_kpi_tiles_show_the_figures_of_the_kpis_view(
    analytics_warehouse: AnalyticsWarehouse, browser: Browser, dashboard_file: Path
) -> None:
    (kpis,) = analytics_warehouse.view("kpis")
    expected = tile_values(kpis)
    page, _ = _open(browser, dashboard_file, "laptop")
    shown = {
        column: page.locator(f'[data-kpi="{column}"] .value').inner_text()
        for column, _, _ in KPI_TILES
    }
    assert shown == expected
    assert shown["revenue"].startswith("R$ ") and "," in shown["revenue"]
    assert shown["late_share"].endswith("%")
    page.close()


def test_serve_answers_with_the_page_and_rebuilds_it_on_the_interval(
    analytics_warehouse: AnalyticsWarehouse, tmp_path: Path
) -> None:
    pipeline = analytics_warehouse.pipeline
    port = free_port()
    server = pipeline.start(
        "dashboard-serve", "dashboard", "--serve", "--port", str(port), "--out", str(tmp_path),
        OLIST_DASHBOARD_REFRESH_SECONDS="2",
    )  # fmt: skip
    wait_for_port(port, timeout=300, process=server)
    page = get_text(f"http://127.0.0.1:{port}/")
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'data-kpi="revenue"' in page
    assert get_text(f"http://127.0.0.1:{port}/healthz") == "ok\n"  # the Deployment's probes
    first_build = (tmp_path / "index.html").stat().st_mtime_ns
    wait_until(
        lambda: (tmp_path / "index.html").stat().st_mtime_ns != first_build,
        300,
        "a rebuild of the served page",
        server,
    )
    assert pipeline.terminate(server) == 0, pipeline.log("dashboard-serve")


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())
