"""``olist setup``: every cloud resource the pipeline needs, created where missing.

The Pub/Sub topic, subscriptions and dead-letter policy (what ``olist pubsub init`` does), the
lake bucket, the BigQuery dataset and both tables (:func:`streaming.resources.
create_sink_resources`). Idempotent; against emulators (``PUBSUB_EMULATOR_HOST``,
``STORAGE_EMULATOR_HOST``, ``OLIST_BIGQUERY_API_ENDPOINT``) or the real services with
Application Default Credentials, from the same ``OLIST_*`` variables the producer and the job
read. The streaming job only checks these exist (:mod:`streaming.preflight`).

Exit codes: 0 everything exists, 1 a resource could not be created (one ``error:`` line), 2
invalid settings.
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)

EXIT_FAILED = 1
EXIT_BAD_SETTINGS = 2


@app.command("setup")
def setup() -> None:
    """Create the Pub/Sub topic and subscriptions, the lake bucket and the BigQuery tables."""
    from google.api_core.exceptions import GoogleAPICallError
    from pydantic import ValidationError
    from requests.exceptions import RequestException

    from producer.errors import TerminalError
    from producer.pubsub_admin import init_pubsub
    from producer.settings import PubSubSettings
    from streaming.resources import create_sink_resources
    from streaming.settings import StreamSettings

    try:
        pubsub_settings = PubSubSettings()
        stream_settings = StreamSettings()
    except ValidationError as error:
        typer.echo(f"error: invalid configuration:\n{error}", err=True)
        raise typer.Exit(EXIT_BAD_SETTINGS) from error
    try:
        init_pubsub(pubsub_settings)
        created = create_sink_resources(stream_settings)
    except TerminalError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from error
    except (GoogleAPICallError, RequestException) as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        typer.echo(
            f"error: could not create the bucket or the BigQuery tables: "
            f"{type(error).__name__}: {first_line}",
            err=True,
        )
        raise typer.Exit(EXIT_FAILED) from error
    for name in (
        pubsub_settings.topic_path(),
        pubsub_settings.subscription_path(),
        pubsub_settings.dead_letter_topic_path(),
        pubsub_settings.dead_letter_subscription_path(),
        *created,
    ):
        typer.echo(f"ready {name}")
