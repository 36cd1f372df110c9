"""Build the dashboard: query the views, write ``<out>/index.html``."""

from __future__ import annotations

import datetime
from contextlib import closing
from pathlib import Path

from analytics.clients import bigquery_client
from analytics.dashboard.data import dashboard_data
from analytics.dashboard.render import render_dashboard
from analytics.settings import AnalyticsSettings


def build_dashboard(
    settings: AnalyticsSettings, out: Path, refresh_seconds: float | None = None
) -> Path:
    """Write ``out/index.html`` from the views of the settings' dataset; returns its path.

    The file is written next to its final name and renamed over it, so a browser (or
    ``--serve``) never reads a half-written page.
    """
    with closing(bigquery_client(settings)) as client:
        data = dashboard_data(client, settings.gcp_project, settings.bigquery_dataset)
    page = render_dashboard(
        data,
        f"{settings.gcp_project}.{settings.bigquery_dataset}",
        datetime.datetime.now(datetime.UTC),
        refresh_seconds,
    )
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    partial = out / "index.html.partial"
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    return target.resolve()
