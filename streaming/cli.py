"""``olist stream``: the streaming job, the same code ``spark-submit streaming/job.py`` runs."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("stream")
def stream(
    available_now: bool = typer.Option(
        False, "--available-now", help="Process what is in the subscription, then stop."
    ),
    trigger_interval: str | None = typer.Option(
        None, help="processingTime trigger interval (default OLIST_TRIGGER_INTERVAL, 5 minutes)."
    ),
) -> None:
    """Pub/Sub -> validate, deduplicate -> Parquet on Cloud Storage + BigQuery."""
    from streaming.job import run
    from streaming.settings import StreamSettings

    overrides: dict[str, object] = {}
    if available_now:
        overrides["available_now"] = True
    if trigger_interval:
        overrides["trigger_interval"] = trigger_interval
    raise typer.Exit(run(StreamSettings(**overrides)))
