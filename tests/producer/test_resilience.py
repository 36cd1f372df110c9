"""Crashes and outages: the producer as a real process against real servers.

Each test runs ``olist produce`` as a child process group, so ``kill -9`` and signals hit a
real process exactly as they would in production.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from emulators.pubsub import PubSubEmulator
from harness.processes import free_port
from producer.pubsub_admin import init_pubsub
from producer.settings import PubSubSettings
from source_db.synthetic.simulator import simulate
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
    unique_pubsub_settings,
    wait_until_async,
)

pytestmark = pytest.mark.slow  # real producer processes killed and restarted

PAGE_SIZE = 100
PAGES_IN_FLIGHT = 4


async def test_restart_after_kill_loses_no_event_and_repeats_only_the_unconfirmed_window(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    await seed_events(database_url, orders=2500)
    expected = await source_event_ids(database_url)
    cursor_path = tmp_path / "cursor.json"
    settings = producer_settings(
        api_server.url,
        pubsub_resources,
        cursor_path,
        api_page_size=PAGE_SIZE,
        events_per_message=25,
        max_pages_in_flight=PAGES_IN_FLIGHT,
        max_events_per_second=800,
    )
    first = ProducerProcess(producer_environment(settings), ["--once"]).start()
    try:
        await wait_until_async(
            lambda: cursor_sequence(cursor_path) >= 600, 90, "a cursor past sequence 600"
        )
        first.kill()
    finally:
        first.close()
    killed_at = cursor_sequence(cursor_path)
    assert killed_at < max(expected.values()), "the producer finished before it was killed"

    second = ProducerProcess(producer_environment(settings), ["--once"]).start()
    try:
        assert second.wait(180) == 0, second.log()
    finally:
        second.close()

    counts = Counter(pulled_event_ids(pull_messages(pubsub_resources.subscription_path())))
    assert set(counts) == set(expected)
    duplicated = {event_id for event_id, count in counts.items() if count > 1}
    assert all(counts[event_id] == 2 for event_id in duplicated)
    assert all(expected[event_id] > killed_at for event_id in duplicated)
    assert len(duplicated) <= PAGES_IN_FLIGHT * PAGE_SIZE
    assert cursor_sequence(cursor_path) == max(expected.values())


async def test_api_outage_is_retried_and_nothing_is_lost(
    database_url: str,
    start_api: Callable[..., ApiProcess],
    pubsub_resources: PubSubSettings,
    tmp_path: Path,
) -> None:
    await seed_events(database_url, orders=1500)
    expected = await source_event_ids(database_url)
    api = start_api(database_url)
    cursor_path = tmp_path / "cursor.json"
    settings = producer_settings(
        api.url,
        pubsub_resources,
        cursor_path,
        api_page_size=PAGE_SIZE,
        max_events_per_second=600,
    )
    producer = ProducerProcess(producer_environment(settings), ["--once"]).start()
    try:
        await wait_until_async(
            lambda: cursor_sequence(cursor_path) >= 300, 90, "a cursor past sequence 300"
        )
        api.stop()
        await wait_until_async(
            lambda: "retrying what='GET" in producer.log(), 60, "the producer to retry the API"
        )
        api.start()
        assert producer.wait(180) == 0, producer.log()
        assert f"cannot connect to 127.0.0.1:{api.port}" in producer.log()
    finally:
        producer.close()

    counts = Counter(pulled_event_ids(pull_messages(pubsub_resources.subscription_path())))
    assert counts == Counter(dict.fromkeys(expected, 1))
    assert cursor_sequence(cursor_path) == max(expected.values())


async def test_pubsub_outage_republishes_unconfirmed_messages_and_loses_nothing(
    database_url: str, api_server: ApiProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private emulator: this test stops it, and a restart loses everything it held.
    emulator = PubSubEmulator().start()
    restarted: PubSubEmulator | None = None
    try:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        names = unique_pubsub_settings()
        init_pubsub(names)
        await seed_events(database_url, orders=1500)
        expected = await source_event_ids(database_url)
        cursor_path = tmp_path / "cursor.json"
        settings = producer_settings(
            api_server.url,
            names,
            cursor_path,
            api_page_size=PAGE_SIZE,
            events_per_message=20,
            max_events_per_second=500,
        )
        producer = ProducerProcess(producer_environment(settings), ["--once"]).start()
        try:
            await wait_until_async(
                lambda: cursor_sequence(cursor_path) >= 300, 90, "a cursor past sequence 300"
            )
            # Freeze the producer to read everything the first emulator holds, then take
            # Pub/Sub away while the producer runs and must retry.
            producer.signal(signal.SIGSTOP)
            before_outage = pulled_event_ids(pull_messages(names.subscription_path()))
            emulator.stop()
            producer.signal(signal.SIGCONT)
            await wait_until_async(
                lambda: "retrying pubsub publish" in producer.log(),
                60,
                "the producer to retry its publishes",
            )
            # Pages confirmed just before the freeze may still be persisted now, but the cursor
            # never passes what the first emulator confirmed (and we read).
            cursor_during_outage = cursor_sequence(cursor_path)
            assert cursor_during_outage <= max(expected[event_id] for event_id in before_outage)
            # Freeze again while a fresh emulator starts on the same port with the same
            # resources, so no publish can reach a topic without its subscription.
            producer.signal(signal.SIGSTOP)
            restarted = PubSubEmulator(port=emulator.port).start()
            init_pubsub(names)
            producer.signal(signal.SIGCONT)
            assert producer.wait(240) == 0, producer.log()
        finally:
            producer.close()
        after_outage = pulled_event_ids(pull_messages(names.subscription_path()))
    finally:
        emulator.stop()
        if restarted is not None:
            restarted.stop()

    assert before_outage and after_outage
    assert set(before_outage) | set(after_outage) == set(expected)
    # Only what the cursor did not cover during the outage is published again.
    assert all(expected[event_id] > cursor_during_outage for event_id in after_outage)
    assert cursor_sequence(cursor_path) == max(expected.values())


async def test_producer_keeps_up_with_the_simulator_and_stops_cleanly_on_sigterm(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    await seed_events(database_url, orders=200)
    cursor_path = tmp_path / "cursor.json"
    metrics_port = free_port()
    settings = producer_settings(
        api_server.url,
        pubsub_resources,
        cursor_path,
        metrics_port=metrics_port,
        api_page_size=500,
    )
    producer = ProducerProcess(producer_environment(settings)).start()
    try:
        report = await simulate(database_url, rate=50, seed=11, stop=asyncio.Event(), duration=4.0)
        assert report.orders > 0
        expected = await source_event_ids(database_url)
        head = max(expected.values())
        await wait_until_async(
            lambda: cursor_sequence(cursor_path) == head, 90, f"the cursor to reach {head}"
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}") as client:
            health = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
        producer.signal(signal.SIGTERM)
        assert producer.wait(60) == 0, producer.log()
        log = producer.log()
    finally:
        producer.close()

    assert health.status_code == 200
    assert f"olist_producer_events_published_total {float(len(expected))}" in metrics
    assert f"olist_producer_cursor_sequence {float(head)}" in metrics
    assert f"olist_producer_head_sequence {float(head)}" in metrics
    assert "olist_producer_lag_events 0.0" in metrics
    assert "olist_producer_publish_latency_seconds_count" in metrics
    assert "stop requested" in log
    assert f"cursor persisted at shutdown location={cursor_path} last_sequence={head}" in log
    counts = Counter(pulled_event_ids(pull_messages(pubsub_resources.subscription_path())))
    assert counts == Counter(dict.fromkeys(expected, 1))
