"""Rotating the source API's key as docs/operations/source-api.md says never shows a 401.

API: new key + previous key; producer: new key; API: new key only. The producer runs through
all three steps (restarted once, for its own key) and delivers every event.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from producer.settings import PubSubSettings
from tests.fixtures.api import ApiProcess
from tests.fixtures.producer import (
    ProducerProcess,
    cursor_sequence,
    producer_environment,
    producer_settings,
    pull_messages,
    pulled_event_ids,
    seed_events,
    source_event_ids,
    wait_until_async,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

OLD, NEW = "the-old-key-0001", "the-new-key-0002"


async def test_a_key_rotation_by_the_runbook_never_answers_the_producer_401(
    database_url: str,
    start_api: Callable[..., ApiProcess],
    pubsub_resources: PubSubSettings,
    tmp_path: Path,
) -> None:
    await seed_events(database_url, orders=1200)
    expected = await source_event_ids(database_url)
    api = start_api(database_url, api_key=OLD)
    cursor_path = tmp_path / "cursor.json"

    def producer(key: str, *arguments: str) -> ProducerProcess:
        settings = producer_settings(
            api.url,
            pubsub_resources,
            cursor_path,
            api_key=key,
            api_page_size=100,
            max_events_per_second=400,
        )
        return ProducerProcess(producer_environment(settings), list(arguments)).start()

    first = producer(OLD)
    try:
        await wait_until_async(lambda: cursor_sequence(cursor_path) >= 200, 120, "cursor 200")
        # 1. The API accepts both keys.
        api.stop()
        api.api_key = NEW
        api.extra_env["OLIST_API_KEY_PREVIOUS"] = OLD
        api.start()
        await wait_until_async(lambda: cursor_sequence(cursor_path) >= 500, 120, "cursor 500")
        # 2. The producer moves to the new key.
        first.signal(signal.SIGTERM)
        assert first.wait(60) == 0, first.log()
        first_log = first.log()
    finally:
        first.close()
    second = producer(NEW, "--once")
    try:
        await wait_until_async(lambda: cursor_sequence(cursor_path) >= 800, 120, "cursor 800")
        # 3. The old key is retired.
        api.stop()
        del api.extra_env["OLIST_API_KEY_PREVIOUS"]
        api.start()
        assert second.wait(180) == 0, second.log()
        second_log = second.log()
    finally:
        second.close()

    for log in (first_log, second_log):
        assert "401" not in log
        assert "refused the API key" not in log
    assert cursor_sequence(cursor_path) == max(expected.values())
    received = set(pulled_event_ids(pull_messages(pubsub_resources.subscription_path())))
    assert set(expected) <= received
