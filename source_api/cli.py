"""``olist`` commands of the source side: database, CSV loader, generator, simulator, API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from source_api.settings import DatabaseSettings

app = typer.Typer(no_args_is_help=True)
db_app = typer.Typer(no_args_is_help=True, help="Manage the source PostgreSQL database.")
app.add_typer(db_app, name="db")


@db_app.command("init")
def db_init() -> None:
    """Create the Olist tables and the order_events view (idempotent)."""
    from source_api.db.schema import init_database

    settings = DatabaseSettings()
    asyncio.run(init_database(settings.database_url))
    typer.echo("database schema is up to date")


@app.command("load-csv")
def load_csv(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Folder holding the Kaggle Olist CSV files (names as unzipped)."
        ),
    ],
    report_json: Annotated[
        Path | None,
        typer.Option("--report-json", help="Also write the load report as JSON to this file."),
    ] = None,
) -> None:
    """Load the Kaggle Olist CSV files into the source database (creates the schema if needed).

    Rows that cannot be stored are counted in the report and skipped; loading the same files
    again inserts nothing. Exits 1 only when DIR is missing, holds none of the files, or
    the database cannot be reached.
    """
    from source_api.db.csv_errors import CsvLoadError
    from source_api.db.csv_loader import load_csv_directory
    from source_api.db.csv_report import render_report

    settings = DatabaseSettings()
    try:
        report = asyncio.run(
            load_csv_directory(settings.database_url, directory, initialise_schema=True)
        )
    except CsvLoadError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(render_report(report))
    if report_json is not None:
        report.write_json(report_json)
        typer.echo(f"report written to {report_json}")


@app.command("api")
def api() -> None:
    """Serve the order-event API (settings from OLIST_API_* and OLIST_DATABASE_URL)."""
    from source_api.server import serve

    serve()
