"""``olist deadletter`` on the Pub/Sub emulator: inspect and count leave messages, replay sends
back what is replayable (exactly once, event ids kept), purge asks first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import orjson
import pytest
from google.cloud import pubsub_v1

from producer.deadletter import DeadLetterSubscription
from producer.pubsub_admin import init_pubsub
from producer.settings import PubSubSettings
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT
from tests.fixtures.producer import pull_messages, unique_pubsub_settings

pytestmark = pytest.mark.slow  # Pub/Sub forwards a message only after 5 real deliveries

FIXED = orjson.dumps({**EXAMPLE_EVENT, "source_sequence": 11})
STILL_BAD = orjson.dumps({**EXAMPLE_EVENT, "source_sequence": 12, "price": -1})
PACKED = [
    orjson.dumps({**EXAMPLE_EVENT, "source_sequence": n, "order_item_id": n}) for n in (20, 21, 22)
]


def _pull_once(subscriber: pubsub_v1.SubscriberClient, path: str) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        response = subscriber.pull(
            request={"subscription": path, "max_messages": 10, "return_immediately": True}
        )
    return [received.ack_id for received in response.received_messages]


@pytest.fixture
def dead_letters(pubsub_emulator: object) -> PubSubSettings:
    """A refused event now valid, one still invalid, a truncated one, and a forwarded envelope."""
    settings = unique_pubsub_settings().model_copy(update={"pubsub_max_delivery_attempts": 5})
    init_pubsub(settings)
    publisher = pubsub_v1.PublisherClient()
    refused = {"origin": "producer", "schema_version": "1", "content_type": "application/json"}
    for data, attributes in [
        (FIXED, {**refused, "reason": "event does not match OrderEvent: price (fixed since)",
                 "source_sequence": "11"}),
        (STILL_BAD, {**refused, "reason": "event does not match OrderEvent: price: >= 0",
                     "source_sequence": "12"}),
        (FIXED[:100], {**refused, "reason": "event is 9600000 bytes, over the budget",
                       "truncated": "true", "original_bytes": "9600000"}),
    ]:  # fmt: skip
        publisher.publish(settings.dead_letter_topic_path(), data, **attributes).result()
    # An envelope nobody acknowledges: Pub/Sub forwards it after 5 deliveries.
    envelope = encode_events(PACKED, 20, 22, "zstd")
    publisher.publish(settings.topic_path(), envelope.data, **envelope.attributes).result()
    subscriber = pubsub_v1.SubscriberClient()
    deadline = time.monotonic() + 120
    with DeadLetterSubscription(settings) as subscription:
        # Pull and release until Pub/Sub has forwarded it (a pull after the 5th delivery).
        while sum(subscription.count_by_reason().values()) < 4:
            assert time.monotonic() < deadline, "the emulator never forwarded the envelope"
            ack_ids = _pull_once(subscriber, settings.subscription_path())
            if ack_ids:
                subscriber.modify_ack_deadline(
                    subscription=settings.subscription_path(),
                    ack_ids=ack_ids,
                    ack_deadline_seconds=0,
                )
            else:
                time.sleep(0.2)
    return settings


def test_inspect_and_count_show_every_kind_and_leave_the_messages(
    dead_letters: PubSubSettings,
) -> None:
    with DeadLetterSubscription(dead_letters) as subscription:
        shown = subscription.inspect(limit=10)
        counts = subscription.count_by_reason()
        again = subscription.count_by_reason()

    assert sorted(letter.kind for letter in shown) == ["forwarded", "refused", "refused", "refused"]
    forwarded = next(letter for letter in shown if letter.kind == "forwarded")
    assert forwarded.summary()["event_count"] == "3"
    assert counts == again
    assert counts == {
        "event does not match OrderEvent: price (fixed since)": 1,
        "event does not match OrderEvent: price: >= 0": 1,
        "event is 9600000 bytes, over the budget": 1,
        "delivered too many times without an acknowledgement (forwarded by Pub/Sub)": 1,
    }


def test_replay_sends_back_what_is_now_valid_and_keeps_the_rest(
    dead_letters: PubSubSettings,
) -> None:
    with DeadLetterSubscription(dead_letters) as subscription:
        report = subscription.replay()
        left = subscription.count_by_reason()
        second = subscription.replay()

    assert (report.replayed, report.events_replayed) == (2, 4)
    assert (len(report.still_invalid), len(report.truncated), len(report.unknown)) == (1, 1, 0)
    assert sorted(left) == [
        "event does not match OrderEvent: price: >= 0",
        "event is 9600000 bytes, over the budget",
    ]
    assert second.replayed == 0  # nothing is replayed twice
    replayed = pull_messages(dead_letters.subscription_path())
    events = [event for message in replayed for event in message.events]
    assert sorted(event["source_sequence"] for event in events) == [11, 20, 21, 22]
    assert {event["event_id"] for event in events} == {EXAMPLE_EVENT["event_id"]} | {
        orjson.loads(raw)["event_id"] for raw in PACKED
    }


def _olist(
    settings: PubSubSettings, *arguments: str, answer: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OLIST_")}
    env.update(
        OLIST_GCP_PROJECT=settings.gcp_project,
        OLIST_PUBSUB_TOPIC=settings.pubsub_topic,
        OLIST_PUBSUB_SUBSCRIPTION=settings.pubsub_subscription,
        OLIST_PUBSUB_DEAD_LETTER_TOPIC=settings.pubsub_dead_letter_topic,
        OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION=settings.pubsub_dead_letter_subscription,
    )
    return subprocess.run(
        [sys.executable, "-m", "olist_cli", "deadletter", *arguments],
        input=answer, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_purge_asks_first_and_then_empties_the_subscription(
    dead_letters: PubSubSettings,
) -> None:
    refused = _olist(dead_letters, "purge", answer="n\n")
    counted = _olist(dead_letters, "count")
    purged = _olist(dead_letters, "purge", "--yes")
    after = _olist(dead_letters, "count")

    assert refused.returncode == 1
    assert "nothing purged" in refused.stderr
    assert counted.stdout.splitlines()[-1].split() == ["4", "total"]
    assert purged.returncode == 0, purged.stderr
    assert "purged messages=4" in purged.stdout
    assert after.stdout.splitlines()[-1].split() == ["0", "total"]
