"""``olist`` commands of the producer: ``olist pubsub init`` and ``olist produce``."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True)
pubsub_app = typer.Typer(no_args_is_help=True, help="Manage the pipeline's Pub/Sub resources.")
app.add_typer(pubsub_app, name="pubsub")
deadletter_app = typer.Typer(
    no_args_is_help=True,
    help="Inspect, count, replay or purge the dead-letter subscription "
    "(docs/operations/producer.md#dead-letters).",
)
app.add_typer(deadletter_app, name="deadletter")

EXIT_TERMINAL_ERROR = 1
EXIT_BAD_SETTINGS = 2


def _settings(cls: Any, **overrides: Any) -> Any:
    from pydantic import ValidationError

    try:
        return cls(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as error:
        typer.echo(f"error: invalid configuration:\n{error}", err=True)
        raise typer.Exit(EXIT_BAD_SETTINGS) from error


@pubsub_app.command("init")
def pubsub_init() -> None:
    """Create the topic, the streaming subscription, the dead-letter topic and its policy."""
    from producer.errors import TerminalError
    from producer.pubsub_admin import init_pubsub
    from producer.settings import PubSubSettings

    settings = _settings(PubSubSettings)
    try:
        report = init_pubsub(settings)
    except TerminalError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_TERMINAL_ERROR) from error
    typer.echo(
        f"pubsub ready topic={settings.topic_path()} (created={report.topic_created}) "
        f"subscription={settings.subscription_path()} (created={report.subscription_created}) "
        f"dead_letter_topic={settings.dead_letter_topic_path()} "
        f"(created={report.dead_letter_topic_created})"
    )


@app.command("produce")
def produce(
    once: bool = typer.Option(
        False, "--once", help="Drain the API up to its current head, then exit."
    ),
    max_events_per_second: float | None = typer.Option(
        None, help="Token-bucket limit on events published (OLIST_MAX_EVENTS_PER_SECOND)."
    ),
    events_per_message: int | None = typer.Option(
        None, help="Most events per Pub/Sub message (OLIST_EVENTS_PER_MESSAGE)."
    ),
    cursor_location: str | None = typer.Option(
        None, help="Cursor file path or gs://bucket/object (OLIST_CURSOR_LOCATION)."
    ),
    metrics_port: int | None = typer.Option(
        None, help="Port of /metrics and /healthz (OLIST_METRICS_PORT)."
    ),
) -> None:
    """Publish the source API's order events to Pub/Sub, at least once, from the saved cursor."""
    from producer.daemon import run_producer
    from producer.errors import TerminalError
    from producer.settings import ProducerSettings

    settings = _settings(
        ProducerSettings,
        max_events_per_second=max_events_per_second,
        events_per_message=events_per_message,
        cursor_location=cursor_location,
        metrics_port=metrics_port,
    )
    try:
        result = asyncio.run(run_producer(settings, once=once))
    except TerminalError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_TERMINAL_ERROR) from error
    typer.echo(
        f"published events={result.events_published} messages={result.messages_published} "
        f"dead_lettered={result.events_dead_lettered} "
        f"cursor_sequence={result.cursor.last_sequence}"
    )


@deadletter_app.command("inspect")
def deadletter_inspect(
    limit: int = typer.Option(20, min=1, help="Most messages to show."),
) -> None:
    """Show dead letters (one JSON line each); they stay in the subscription."""
    import orjson

    from producer.deadletter import DeadLetterSubscription
    from producer.settings import PubSubSettings

    with DeadLetterSubscription(_settings(PubSubSettings)) as subscription:
        for letter in subscription.inspect(limit):
            typer.echo(orjson.dumps(letter.summary()).decode())


@deadletter_app.command("count")
def deadletter_count() -> None:
    """Count dead letters by reason; they stay in the subscription."""
    from producer.deadletter import DeadLetterSubscription
    from producer.settings import PubSubSettings

    with DeadLetterSubscription(_settings(PubSubSettings)) as subscription:
        counts = subscription.count_by_reason()
    for reason, count in counts.most_common():
        typer.echo(f"{count:>8}  {reason}")
    typer.echo(f"{sum(counts.values()):>8}  total")


@deadletter_app.command("replay")
def deadletter_replay(
    limit: int | None = typer.Option(None, min=1, help="Most messages to replay."),
) -> None:
    """Publish dead letters back to the events topic (after a fix); acknowledge them once sent.

    Refused events are validated again first: those still invalid, and truncated ones, stay.
    """
    from producer.deadletter import DeadLetterSubscription
    from producer.settings import PubSubSettings

    with DeadLetterSubscription(_settings(PubSubSettings)) as subscription:
        report = subscription.replay(limit)
    typer.echo(
        f"replayed messages={report.replayed} events={report.events_replayed} "
        f"kept_still_invalid={len(report.still_invalid)} kept_truncated={len(report.truncated)} "
        f"kept_unknown={len(report.unknown)}"
    )


@deadletter_app.command("purge")
def deadletter_purge(
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Acknowledge (delete) every dead letter, after confirmation."""
    from producer.deadletter import DeadLetterSubscription
    from producer.settings import PubSubSettings

    settings = _settings(PubSubSettings)
    path = settings.dead_letter_subscription_path()
    if not yes and not typer.confirm(
        f"Delete every message of {path}? They cannot be recovered", default=False
    ):
        typer.echo("nothing purged", err=True)
        raise typer.Exit(EXIT_TERMINAL_ERROR)
    with DeadLetterSubscription(settings) as subscription:
        purged = subscription.purge()
    typer.echo(f"purged messages={purged} subscription={path}")
