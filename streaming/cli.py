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
    from streaming.exit_codes import run_to_exit_code
    from streaming.job import run, settings_with_overrides

    raise typer.Exit(
        run_to_exit_code(lambda: run(settings_with_overrides(available_now, trigger_interval)))
    )
