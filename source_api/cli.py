"""``olist api``: the command that serves the source API."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("api")
def api() -> None:
    """Serve the order-event API (settings from OLIST_API_* and OLIST_DATABASE_URL)."""
    from source_api.server import main

    raise typer.Exit(main())
