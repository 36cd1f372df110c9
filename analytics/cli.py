"""The analytics commands: ``olist export-dimensions``, ``olist create-views``, ``olist dashboard``.

Heavy imports (Arrow, the Google clients) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from schemas.dimensions import DIMENSIONS

app = typer.Typer()

_TABLE_NAMES = ", ".join(t.name for t in DIMENSIONS)


@app.command("export-dimensions")
def export_dimensions_command(
    csv: bool = typer.Option(False, "--csv", help="Also write <table>.csv next to the Parquet."),
    table: list[str] | None = typer.Option(
        None, help=f"Only these tables (repeatable): {_TABLE_NAMES}."
    ),
    create_views: bool = typer.Option(
        False,
        "--create-views",
        help="Then create or replace the views, as `olist create-views` (the CronJob's run).",
    ),
) -> None:
    """Copy the dimension tables from PostgreSQL to Cloud Storage and load them into BigQuery."""
    from analytics.export_dimensions import export_dimensions
    from analytics.formatting import count
    from analytics.settings import AnalyticsSettings

    unknown = sorted(set(table or ()) - {t.name for t in DIMENSIONS})
    if unknown:
        raise typer.BadParameter(f"unknown tables {unknown}", param_hint="--table")
    for exported in export_dimensions(AnalyticsSettings(), with_csv=csv, tables=table):
        files = exported.parquet_uri + (f" + {exported.csv_uri}" if exported.csv_uri else "")
        print(
            f"{exported.table:<12} {count(exported.rows):>9} rows  {files} -> "
            f"{exported.bigquery_table}  ({exported.seconds:.1f} s)"
        )
    if create_views:
        create_views_command()


@app.command("create-views")
def create_views_command() -> None:
    """Create or replace every analytics view of analytics/views/ in the BigQuery dataset."""
    from analytics.settings import AnalyticsSettings
    from analytics.views import create_views

    settings = AnalyticsSettings()
    names = create_views(settings)
    print(f"{len(names)} views in {settings.gcp_project}.{settings.bigquery_dataset}: ")
    print(", ".join(names))


@app.command("dashboard")
def dashboard_command(
    out: Path | None = typer.Option(
        None, help="Folder of the built index.html [default: OLIST_DASHBOARD_DIR]."
    ),
    serve: bool = typer.Option(False, help="Serve the folder and rebuild it on an interval."),
    port: int | None = typer.Option(
        None, help="With --serve: the HTTP port [default: OLIST_DASHBOARD_PORT]."
    ),
) -> None:
    """Build the dashboard (one self-contained HTML file) from the views in BigQuery."""
    from analytics.dashboard.build import build_dashboard
    from analytics.settings import AnalyticsSettings

    settings = AnalyticsSettings()
    folder = out or settings.dashboard_dir
    if serve:
        from analytics.dashboard.serve import serve_dashboard

        serve_dashboard(settings, folder, port or settings.dashboard_port)
        return
    print(build_dashboard(settings, folder))
