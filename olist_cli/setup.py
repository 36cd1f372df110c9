"""``olist setup``: every cloud resource the pipeline needs, created where missing.

The Pub/Sub topic, subscriptions and dead-letter policy (what ``olist pubsub init`` does), the
lake bucket, the BigQuery dataset and both tables (:func:`streaming.resources.
create_sink_resources`), then the analytics views and their date-range table functions,
created or replaced (:func:`analytics.views.create_views`, what ``olist create-views`` does).
Idempotent; against emulators (``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``,
``OLIST_BIGQUERY_API_ENDPOINT``) or the real services with Application Default Credentials,
from the same ``OLIST_*`` variables the producer and the job read. The streaming job only checks
these exist (:mod:`streaming.preflight`).

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
    """Create the Pub/Sub topic and subscriptions, the lake bucket, BigQuery tables and views."""
    from google.api_core.exceptions import GoogleAPICallError
    from pydantic import ValidationError
    from requests.exceptions import RequestException

    from analytics.settings import AnalyticsSettings
    from analytics.views import create_views
    from producer.errors import TerminalError
    from producer.pubsub_admin import init_pubsub
    from producer.settings import PubSubSettings
    from streaming.resources import create_sink_resources
    from streaming.settings import StreamSettings

    try:
        pubsub_settings = PubSubSettings()
        stream_settings = StreamSettings()
        analytics_settings = AnalyticsSettings()
    except ValidationError as error:
        typer.echo(f"error: invalid configuration:\n{error}", err=True)
        raise typer.Exit(EXIT_BAD_SETTINGS) from error
    try:
        init_pubsub(pubsub_settings)
        created = create_sink_resources(stream_settings)
        views = create_views(analytics_settings)
    except TerminalError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from error
    except (GoogleAPICallError, RequestException) as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        typer.echo(
            f"error: could not create the bucket or the BigQuery tables and views: "
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
    dataset = f"{analytics_settings.gcp_project}.{analytics_settings.bigquery_dataset}"
    typer.echo(f"ready {len(views)} views in {dataset}: {', '.join(views)}")
