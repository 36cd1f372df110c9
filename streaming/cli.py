"""``olist stream``: the streaming job, the same code ``spark-submit streaming/job.py`` runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from streaming.rejected_rows import RejectedRows

app = typer.Typer(no_args_is_help=True)
rejected_app = typer.Typer(
    no_args_is_help=True,
    help="The rows the streaming job rejected (BigQuery): count, inspect, replay after a fix.",
)


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


def _rejected_rows() -> RejectedRows:
    from streaming.rejected_rows import RejectedRows
    from streaming.resources import bigquery_client
    from streaming.settings import StreamSettings

    settings = StreamSettings()
    return RejectedRows(settings, bigquery_client(settings))


@rejected_app.command("count")
def rejected_count() -> None:
    """Rejected rows by reason, and the total."""
    counts = _rejected_rows().count_by_reason()
    for reason, count in counts.most_common():
        typer.echo(f"{count:>8}  {reason}")
    typer.echo(f"{sum(counts.values()):>8}  total")


@rejected_app.command("inspect")
def rejected_inspect(limit: int = typer.Option(20, min=1, help="Most rows to show.")) -> None:
    """Rejected rows, oldest first, one JSON line each (payload head, reason)."""
    import json

    for row in _rejected_rows().inspect(limit):
        typer.echo(json.dumps(row, ensure_ascii=False))


@rejected_app.command("replay")
def rejected_replay(
    limit: int | None = typer.Option(None, min=1, help="Most rows to replay."),
) -> None:
    """Send rows whose payload is valid today back to the events topic, each once."""
    rows = _rejected_rows()
    report = rows.replay(rows.settings.topic_path, limit)
    typer.echo(
        f"replayed rows={report.replayed} kept_still_invalid={report.still_invalid} "
        f"kept_without_payload={report.without_payload}"
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
