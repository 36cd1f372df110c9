"""``olist``: the command line of the whole pipeline.

Each stage keeps its commands in its own package (``source_api.cli``, ``producer.cli``,
``streaming.cli``); this module only gathers them. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import logging
import os

import typer

from producer.cli import app as producer_commands
from source_api.cli import app as source_commands
from streaming.cli import app as streaming_commands

app = typer.Typer(
    no_args_is_help=True,
    help="olist-pipeline: Olist orders from PostgreSQL to Pub/Sub, Spark and BigQuery.",
    pretty_exceptions_enable=False,
)
app.add_typer(source_commands)
app.add_typer(producer_commands)
app.add_typer(streaming_commands)


@app.callback()
def configure_logging(
    log_level: str = typer.Option(
        os.environ.get("OLIST_LOG_LEVEL", "INFO"), help="Logging level (OLIST_LOG_LEVEL)."
    ),
) -> None:
    """Structured key=value logs on stderr."""
    logging.basicConfig(
        level=log_level.upper(),
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )


if __name__ == "__main__":
    app()
