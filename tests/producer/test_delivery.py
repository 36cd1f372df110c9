"""End to end in one process: real PostgreSQL, the real API over HTTP, the Pub/Sub emulator."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import asyncpg
import orjson
import pytest

from producer.backoff import BackoffPolicy
from producer.confirmation import Cursor
from producer.cursor_store import LocalFileCursorStore
from producer.daemon import run_producer
from producer.metrics import ProducerMetrics
from producer.pipeline import Pipeline
from producer.publisher import EventPublisher
from producer.settings import ProducerSettings, PubSubSettings
from producer.source_client import SourceClient
from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_order
from tests.fixtures.producer import (
    producer_settings,
    pull_messages,
    pulled_event_ids,
    seed_events,
    source_event_ids,
)

pytestmark = pytest.mark.slow  # the whole producer against real servers


async def test_every_event_arrives_with_the_default_events_per_message(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    total = await seed_events(database_url, orders=2000)
    expected = await source_event_ids(database_url)
    settings = producer_settings(api_server.url, pubsub_resources, tmp_path / "cursor.json")
    assert settings.events_per_message == ProducerSettings().events_per_message

    result = await run_producer(settings, once=True, handle_signals=False)

    messages = pull_messages(pubsub_resources.subscription_path())
    assert Counter(pulled_event_ids(messages)) == Counter(dict.fromkeys(expected, 1))
    assert result.events_published == total == len(expected)
    assert result.messages_published == len(messages)
    assert max(len(message.events) for message in messages) == settings.events_per_message
    for message in messages:
        sequences = [event["source_sequence"] for event in message.events]
        assert message.attributes["event_count"] == str(len(sequences))
        assert message.attributes["first_sequence"] == str(sequences[0])
        assert message.attributes["last_sequence"] == str(sequences[-1])
        assert message.attributes["schema_version"] == "2"
        assert message.attributes["content_type"] == "application/x-ndjson"
        assert all(expected[event["event_id"]] == event["source_sequence"]
                   for event in message.events)  # fmt: skip
    saved = await LocalFileCursorStore(tmp_path / "cursor.json").load()
    assert saved == result.cursor
    assert saved is not None and saved.last_sequence == max(expected.values())


async def test_every_event_arrives_alone_when_one_event_per_message(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    total = await seed_events(database_url, orders=150)
    expected = await source_event_ids(database_url)
    settings = producer_settings(
        api_server.url,
        pubsub_resources,
        tmp_path / "cursor.json",
        events_per_message=1,
        api_page_size=40,
    )

    result = await run_producer(settings, once=True, handle_signals=False)

    messages = pull_messages(pubsub_resources.subscription_path())
    assert len(messages) == total == result.messages_published == result.events_published
    assert all(message.attributes["event_count"] == "1" for message in messages)
    assert Counter(pulled_event_ids(messages)) == Counter(dict.fromkeys(expected, 1))


async def test_a_second_run_resumes_from_the_cursor_and_publishes_only_new_events(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    first_total = await seed_events(database_url, orders=100, seed=1)
    settings = producer_settings(
        api_server.url, pubsub_resources, tmp_path / "cursor.json", api_page_size=50
    )
    first = await run_producer(settings, once=True, handle_signals=False)
    assert first.events_published == first_total
    before = set(await source_event_ids(database_url))
    pull_messages(pubsub_resources.subscription_path())

    total = await seed_events(database_url, orders=60, seed=2)
    second = await run_producer(settings, once=True, handle_signals=False)
    nothing_new = await run_producer(settings, once=True, handle_signals=False)

    new_ids = set(await source_event_ids(database_url)) - before
    messages = pull_messages(pubsub_resources.subscription_path())
    assert Counter(pulled_event_ids(messages)) == Counter(dict.fromkeys(new_ids, 1))
    assert second.events_published == total - first_total == len(new_ids)
    assert nothing_new.events_published == 0
    assert nothing_new.cursor == second.cursor


async def test_event_failing_validation_goes_to_the_dead_letter_topic_with_the_reason(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    await seed_events(database_url, orders=200)
    connection = await asyncpg.connect(database_url)
    try:
        # One more order whose customer has an empty city: the database accepts it, OrderEvent
        # does not (min_length=1). Broken in the same transaction, so the API renders its
        # events (once, when it first serves them) with the empty city.
        async with connection.transaction():
            await insert_order(connection, random.Random(5))
            order_id = await connection.fetchval(
                "SELECT order_id FROM olist.order_items ORDER BY source_sequence DESC LIMIT 1"
            )
            await connection.execute(
                "UPDATE olist.customers SET customer_city = '' WHERE customer_id = "
                "(SELECT customer_id FROM olist.orders WHERE order_id = $1)",
                order_id,
            )
        broken_events = {
            row["event_id"]: row["source_sequence"]
            for row in await connection.fetch(
                "SELECT event_id, source_sequence FROM olist.order_events WHERE order_id = $1",
                order_id.strip(),
            )
        }
    finally:
        await connection.close()
    expected = await source_event_ids(database_url)
    assert broken_events
    settings = producer_settings(
        api_server.url, pubsub_resources, tmp_path / "cursor.json", api_page_size=100
    )

    result = await run_producer(settings, once=True, handle_signals=False)

    main = pull_messages(pubsub_resources.subscription_path())
    dead = pull_messages(pubsub_resources.dead_letter_subscription_path())
    good = set(expected) - set(broken_events)
    assert Counter(pulled_event_ids(main)) == Counter(dict.fromkeys(good, 1))
    assert result.events_dead_lettered == len(broken_events) == len(dead)
    assert {message.attributes["event_id"] for message in dead} == set(broken_events)
    for message in dead:
        assert message.attributes["origin"] == "producer"
        assert message.attributes["schema_version"] == "2"
        assert message.attributes["source_sequence"] == str(
            broken_events[message.attributes["event_id"]]
        )
        assert message.attributes["reason"].startswith(
            "event does not match OrderEvent: customer_city: String should have at least 1"
        )
        assert message.events[0]["customer_city"] == ""
    assert result.cursor.last_sequence == max(expected.values())


async def test_rate_limit_shrinks_pages_to_one_second_of_events(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    total = await seed_events(database_url, orders=120)
    settings = producer_settings(
        api_server.url, pubsub_resources, tmp_path / "cursor.json", max_events_per_second=60
    )

    result = await run_producer(settings, once=True, handle_signals=False)

    messages = pull_messages(pubsub_resources.subscription_path())
    assert result.events_published == total
    assert max(len(message.events) for message in messages) == 60
    assert result.pages == -(-total // 60)


async def test_envelope_payload_is_the_events_as_the_api_served_them(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    await seed_events(database_url, orders=20)
    settings = producer_settings(api_server.url, pubsub_resources, tmp_path / "cursor.json")
    await run_producer(settings, once=True, handle_signals=False)

    import httpx

    served = httpx.get(f"{api_server.url}/v1/order-events", params={"limit": 5000}).json()
    messages = pull_messages(pubsub_resources.subscription_path())
    assert [event for message in messages for event in message.events] == served["events"]
    assert (
        orjson.loads(orjson.dumps(served["events"][0]))["event_id"]
        == (messages[0].events[0]["event_id"])
    )
    assert isinstance(Cursor(served["next_cursor"], 0).value, str)


class BrokenDiskStore(LocalFileCursorStore):
    """A cursor file on a disk that starts failing in a way nobody anticipated."""

    async def save(self, cursor: Cursor) -> None:
        raise RuntimeError("disk controller reset")


async def test_an_unexpected_error_stops_the_run_instead_of_hanging(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    await seed_events(database_url, orders=30)
    settings = producer_settings(api_server.url, pubsub_resources, tmp_path / "cursor.json")
    metrics = ProducerMetrics()
    publisher = EventPublisher(settings, metrics)
    try:
        async with SourceClient(settings.api_url, BackoffPolicy(timeout=5)) as source:
            pipeline = Pipeline(
                settings,
                source,
                publisher,
                BrokenDiskStore(tmp_path / "c.json"),
                metrics,
                once=True,
            )
            with pytest.raises(RuntimeError, match="disk controller reset"):
                await asyncio.wait_for(pipeline.run(Cursor(None, 0)), timeout=60)
    finally:
        publisher.close()
    assert metrics.healthy is False
