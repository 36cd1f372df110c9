"""``olist``: the command line of the whole pipeline.

Each stage keeps its commands in its own package (``source_db.cli``, ``source_api.cli``,
``producer.cli``, ``streaming.cli``); this module only gathers them. Heavy imports happen inside
the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from olist_cli.services import app as services_commands
from olist_cli.setup import app as setup_commands
from producer.cli import app as producer_commands
from schemas import log_format
from source_api.cli import app as source_api_commands
from source_db.cli import app as source_db_commands
from source_db.cli import db_app as database_commands
from streaming.cli import app as streaming_commands

app = typer.Typer(
    no_args_is_help=True,
    help="olist-pipeline: Olist orders from PostgreSQL to Pub/Sub, Spark and BigQuery.",
    pretty_exceptions_enable=False,
)
app.add_typer(source_db_commands)
app.add_typer(source_api_commands)
app.add_typer(database_commands, name="db")
app.add_typer(producer_commands)
app.add_typer(streaming_commands)
app.add_typer(setup_commands)
app.add_typer(services_commands, name="services")


@app.command("local-run")
def local_run(
    orders: int = typer.Option(20_000, help="Orders to generate in the local PostgreSQL."),
    seed: int = typer.Option(42, help="Seed of the generated data."),
    trigger_interval: str = typer.Option("10 seconds", help="Streaming trigger for the demo."),
    timeout: float = typer.Option(900, help="Seconds to wait for every event in BigQuery."),
    keep: Path | None = typer.Option(None, help="Keep logs and data in this directory."),
) -> None:
    """Run the whole pipeline locally on emulators and print analytics from BigQuery."""
    from olist_cli.local_run import run_local_pipeline

    raise typer.Exit(run_local_pipeline(orders, seed, trigger_interval, timeout, keep))


@app.callback()
def configure_logging(
    log_level: str | None = typer.Option(
        None, help="Logging level for this command; default: OLIST_LOG_LEVEL, else INFO."
    ),
) -> None:
    """Structured key=value logs on stderr."""
    from pydantic import ValidationError

    try:
        settings = (
            log_format.LoggingSettings()
            if log_level is None
            else log_format.LoggingSettings.model_validate({"log_level": log_level})
        )
    except ValidationError as error:
        raise typer.BadParameter(
            f"{error.errors()[0]['input']!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL",
            param_hint="--log-level / OLIST_LOG_LEVEL",
        ) from None
    log_format.configure_logging(settings.log_level)


if __name__ == "__main__":
    app()
