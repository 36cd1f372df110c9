"""``olist pubsub init`` against the official Pub/Sub emulator."""

from __future__ import annotations

import os
import subprocess
import sys

from google.cloud import pubsub_v1

from emulators.pubsub import PubSubEmulator
from producer.pubsub_admin import STREAMING_ACK_DEADLINE_SECONDS, init_pubsub
from tests.fixtures.producer import REPOSITORY_ROOT, unique_pubsub_settings


def test_init_creates_topics_subscriptions_and_dead_letter_policy(
    pubsub_emulator: PubSubEmulator,
) -> None:
    settings = unique_pubsub_settings().model_copy(update={"pubsub_max_delivery_attempts": 7})

    report = init_pubsub(settings)

    assert (report.topic_created, report.dead_letter_topic_created) == (True, True)
    assert (report.subscription_created, report.dead_letter_subscription_created) == (True, True)
    subscriber = pubsub_v1.SubscriberClient()
    streaming = subscriber.get_subscription(subscription=settings.subscription_path())
    assert streaming.topic == settings.topic_path()
    assert streaming.ack_deadline_seconds == STREAMING_ACK_DEADLINE_SECONDS == 600
    assert streaming.dead_letter_policy.dead_letter_topic == settings.dead_letter_topic_path()
    assert streaming.dead_letter_policy.max_delivery_attempts == 7
    dead_letter = subscriber.get_subscription(subscription=settings.dead_letter_subscription_path())
    assert dead_letter.topic == settings.dead_letter_topic_path()


def test_init_twice_creates_nothing_and_updates_the_delivery_attempts(
    pubsub_emulator: PubSubEmulator,
) -> None:
    settings = unique_pubsub_settings()
    init_pubsub(settings)

    report = init_pubsub(settings.model_copy(update={"pubsub_max_delivery_attempts": 12}))

    assert report.topic_created is False
    assert report.dead_letter_topic_created is False
    assert report.subscription_created is False
    assert report.dead_letter_subscription_created is False
    subscriber = pubsub_v1.SubscriberClient()
    streaming = subscriber.get_subscription(subscription=settings.subscription_path())
    assert streaming.dead_letter_policy.max_delivery_attempts == 12
    assert streaming.ack_deadline_seconds == 600


def test_cli_pubsub_init_reports_the_resources_and_exits_zero(
    pubsub_emulator: PubSubEmulator,
) -> None:
    settings = unique_pubsub_settings()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment.update(
        PYTHONPATH=str(REPOSITORY_ROOT),
        OLIST_GCP_PROJECT=settings.gcp_project,
        OLIST_PUBSUB_TOPIC=settings.pubsub_topic,
        OLIST_PUBSUB_SUBSCRIPTION=settings.pubsub_subscription,
        OLIST_PUBSUB_DEAD_LETTER_TOPIC=settings.pubsub_dead_letter_topic,
        OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION=settings.pubsub_dead_letter_subscription,
    )

    result = subprocess.run(
        [sys.executable, "-m", "olist_cli", "pubsub", "init"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert f"topic={settings.topic_path()} (created=True)" in result.stdout
    assert f"subscription={settings.subscription_path()} (created=True)" in result.stdout
    publisher = pubsub_v1.PublisherClient()
    assert publisher.get_topic(topic=settings.dead_letter_topic_path()).name == (
        settings.dead_letter_topic_path()
    )


def test_cli_pubsub_init_refuses_the_same_topic_for_events_and_dead_letters(
    pubsub_emulator: PubSubEmulator,
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment.update(
        PYTHONPATH=str(REPOSITORY_ROOT),
        OLIST_PUBSUB_TOPIC="same-topic",
        OLIST_PUBSUB_DEAD_LETTER_TOPIC="same-topic",
    )

    result = subprocess.run(
        [sys.executable, "-m", "olist_cli", "pubsub", "init"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "the dead-letter topic must differ from the events topic" in result.stderr


def test_init_keeps_both_subscriptions_for_replay_and_never_lets_them_expire(
    pubsub_emulator: PubSubEmulator,
) -> None:
    settings = unique_pubsub_settings()
    subscriber = pubsub_v1.SubscriberClient()
    # A subscription made before these settings existed (no retained acknowledgements) is
    # brought up to date by the next init.
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=settings.dead_letter_topic_path())
    subscriber.create_subscription(
        name=settings.dead_letter_subscription_path(), topic=settings.dead_letter_topic_path()
    )

    init_pubsub(settings)

    for path in (settings.subscription_path(), settings.dead_letter_subscription_path()):
        subscription = subscriber.get_subscription(subscription=path)
        assert subscription.retain_acked_messages is True, path
        assert subscription.message_retention_duration.total_seconds() == 7 * 24 * 3600, path
        # No ttl: never expires (the emulator does not report a ttl either way).
        assert "ttl" not in subscription.expiration_policy, path
