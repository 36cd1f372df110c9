"""``olist`` commands of the source side: database, CSV loader, generator, simulator, API."""

from __future__ import annotations

import asyncio

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


@app.command("api")
def api() -> None:
    """Serve the order-event API (settings from OLIST_API_* and OLIST_DATABASE_URL)."""
    from source_api.server import serve

    serve()
