"""Idempotent creation of the pipeline's Pub/Sub resources (``olist pubsub init``).

Creates the events topic, the streaming subscription (ack deadline 600 s: the Spark source
acknowledges a message only after the micro-batch holding it is committed, which can take
minutes), the dead-letter topic with a subscription that keeps what lands there, and the
dead-letter policy on the streaming subscription. Existing resources are left as they are,
except that the subscriptions' settings below are brought to the configured values. Works
against the real service and the emulator (``PUBSUB_EMULATOR_HOST``).

Both subscriptions are kept for replay (docs/operations/producer.md#pubsub-resources):

- they never expire (Pub/Sub deletes a subscription nobody pulls for 31 days by default; the
  dead-letter subscription is pulled only by an operator, and losing it loses every dead
  letter);
- they keep messages 7 days (Pub/Sub's maximum for a subscription), acknowledged ones too
  (``retain_acked_messages``), so ``gcloud pubsub subscriptions seek --time=...`` can replay
  the last 7 days after a bug in the job or a lost checkpoint. Retained acknowledged messages
  are billed as subscription storage.

On the real service Pub/Sub's own service account must also be allowed to publish to the
dead-letter topic and to acknowledge on the subscription (see docs/operations/producer.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import DeadLetterPolicy, ExpirationPolicy, Subscription
from google.protobuf import field_mask_pb2

from producer.errors import ConfigurationError, PublishRejected
from producer.settings import PubSubSettings

log = logging.getLogger(__name__)

STREAMING_ACK_DEADLINE_SECONDS = 600
"""Pub/Sub's maximum, and what the Spark source needs between receiving and acknowledging."""

DEAD_LETTER_ACK_DEADLINE_SECONDS = 60
MESSAGE_RETENTION_SECONDS = 7 * 24 * 3600
"""Pub/Sub's maximum retention for a subscription: how far back ``seek`` can replay."""

NEVER_EXPIRE = ExpirationPolicy()
"""An expiration policy without ``ttl``: the subscription never expires, pulled or not."""

KEPT_FOR_REPLAY = ["expiration_policy", "message_retention_duration", "retain_acked_messages"]
"""Fields of both subscriptions that :func:`init_pubsub` brings up to date when they exist."""


@dataclass(frozen=True)
class InitReport:
    """Which resources were created by this call (False: already there)."""

    topic_created: bool
    dead_letter_topic_created: bool
    subscription_created: bool
    dead_letter_subscription_created: bool


def _ensure_topic(client: pubsub_v1.PublisherClient, path: str) -> bool:
    try:
        client.create_topic(name=path)
    except api_exceptions.AlreadyExists:
        log.info("pubsub topic exists topic=%s", path)
        return False
    log.info("pubsub topic created topic=%s", path)
    return True


def _ensure_subscription(
    client: pubsub_v1.SubscriberClient, wanted: Subscription, update_paths: list[str]
) -> bool:
    try:
        client.create_subscription(request=wanted)
    except api_exceptions.AlreadyExists:
        existing = Subscription.pb(client.get_subscription(subscription=wanted.name))
        # Only what differs is updated: the emulator refuses some updates (expiration_policy)
        # even to the value the subscription already has.
        update_paths = [
            path
            for path in update_paths
            if getattr(existing, path) != getattr(Subscription.pb(wanted), path)
        ]
        if update_paths:
            client.update_subscription(
                request={
                    "subscription": wanted,
                    "update_mask": field_mask_pb2.FieldMask(paths=update_paths),
                }
            )
        log.info("pubsub subscription exists subscription=%s updated=%s", wanted.name,
                 ",".join(update_paths) or "-")  # fmt: skip
        return False
    log.info("pubsub subscription created subscription=%s topic=%s", wanted.name, wanted.topic)
    return True


def _kept_for_replay() -> dict[str, Any]:
    return {
        "expiration_policy": NEVER_EXPIRE,
        "message_retention_duration": {"seconds": MESSAGE_RETENTION_SECONDS},
        "retain_acked_messages": True,
    }


def init_pubsub(
    settings: PubSubSettings,
    publisher: pubsub_v1.PublisherClient | None = None,
    subscriber: pubsub_v1.SubscriberClient | None = None,
) -> InitReport:
    """Create (or bring up to date) every Pub/Sub resource of the pipeline."""
    publisher = publisher or pubsub_v1.PublisherClient()
    subscriber = subscriber or pubsub_v1.SubscriberClient()
    if settings.pubsub_topic == settings.pubsub_dead_letter_topic:
        raise ConfigurationError(
            f"the dead-letter topic must differ from the events topic, both are "
            f"{settings.pubsub_topic!r}; set OLIST_PUBSUB_DEAD_LETTER_TOPIC"
        )
    try:
        topic_created = _ensure_topic(publisher, settings.topic_path())
        dead_letter_created = _ensure_topic(publisher, settings.dead_letter_topic_path())
        subscription_created = _ensure_subscription(
            subscriber,
            Subscription(
                name=settings.subscription_path(),
                topic=settings.topic_path(),
                ack_deadline_seconds=STREAMING_ACK_DEADLINE_SECONDS,
                dead_letter_policy=DeadLetterPolicy(
                    dead_letter_topic=settings.dead_letter_topic_path(),
                    max_delivery_attempts=settings.pubsub_max_delivery_attempts,
                ),
                **_kept_for_replay(),
            ),
            ["ack_deadline_seconds", "dead_letter_policy", *KEPT_FOR_REPLAY],
        )
        dead_letter_subscription_created = _ensure_subscription(
            subscriber,
            Subscription(
                name=settings.dead_letter_subscription_path(),
                topic=settings.dead_letter_topic_path(),
                ack_deadline_seconds=DEAD_LETTER_ACK_DEADLINE_SECONDS,
                **_kept_for_replay(),
            ),
            KEPT_FOR_REPLAY,
        )
    except api_exceptions.GoogleAPIError as error:
        raise PublishRejected(
            f"could not create the Pub/Sub resources in project {settings.gcp_project}: "
            f"{type(error).__name__}: {error}; check the project id and that the "
            "caller has roles/pubsub.editor (or PUBSUB_EMULATOR_HOST for the emulator)"
        ) from error
    return InitReport(
        topic_created, dead_letter_created, subscription_created, dead_letter_subscription_created
    )
