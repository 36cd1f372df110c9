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


@app.command("lake-compact")
def lake_compact(
    prefix: list[str] = typer.Option(
        None, help="Lake prefixes to compact (default: the events' and the rejected rows')."
    ),
) -> None:
    """Rewrite each lake partition's small objects of committed batches as one object."""
    from google.cloud import storage

    from schemas.log_format import configure_logging
    from streaming.lake_compaction import LakeCompactor
    from streaming.settings import StreamSettings

    settings = StreamSettings()
    configure_logging(settings.log_level)
    client = storage.Client(project=settings.gcp_project)
    for name in prefix or [settings.lake_events_prefix, settings.lake_rejected_prefix]:
        summary = LakeCompactor(client, settings.lake_bucket, name).compact()
        typer.echo(
            f"{name}: {summary.partitions} partitions, {summary.objects_before} objects -> "
            f"{summary.objects_after}, {summary.rows:,} rows"
        )
