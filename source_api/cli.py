"""``olist api``: the command that serves the source API."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


EXIT_BAD_SETTINGS = 2
EXIT_DATABASE_UNAVAILABLE = 3


@app.command("api")
def api() -> None:
    """Serve the order-event API (settings from OLIST_API_* and OLIST_DATABASE_URL)."""
    import logging

    from pydantic import ValidationError

    from source_api.server import serve
    from source_api.settings import ApiSettings
    from source_db.connection import DatabaseUnavailable

    log = logging.getLogger("source_api")
    try:
        settings = ApiSettings()
    except ValidationError as error:
        problems = "; ".join(str(problem["msg"]) for problem in error.errors())
        log.error("api cannot start: invalid configuration: %s", problems)
        raise typer.Exit(EXIT_BAD_SETTINGS) from None
    try:
        serve(settings)
    except DatabaseUnavailable as error:
        log.error("api cannot start: %s", error)
        raise typer.Exit(EXIT_DATABASE_UNAVAILABLE) from None
