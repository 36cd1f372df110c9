"""``olist produce`` refuses bad configuration with a clear message and a non-zero exit."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.processes import free_port
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
    unique_pubsub_settings,
    wait_until_async,
)


def run_producer_process(environment: dict[str, str], *arguments: str) -> tuple[int, str]:
    producer = ProducerProcess(environment, list(arguments)).start()
    try:
        code = producer.wait(120)
        return code, producer.log()
    finally:
        producer.close()


async def test_unknown_topic_stops_before_fetching_with_what_to_do(
    api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    missing = unique_pubsub_settings()  # names never created on the emulator
    settings = producer_settings(api_server.url, missing, tmp_path / "cursor.json")

    code, log = run_producer_process(producer_environment(settings), "--once")

    assert code == 1
    assert f"error: Pub/Sub topic {missing.topic_path()} does not exist" in log
    assert "create it with `olist setup` (or `olist pubsub init`)" in log
    assert not (tmp_path / "cursor.json").exists()


async def test_wrong_api_key_stops_with_what_to_do(
    database_url: str,
    start_api: Callable[..., ApiProcess],
    pubsub_resources: PubSubSettings,
    tmp_path: Path,
) -> None:
    api = start_api(database_url, api_key="the-right-key")
    settings = producer_settings(
        api.url, pubsub_resources, tmp_path / "cursor.json", api_key="a-wrong-key"
    )

    code, log = run_producer_process(producer_environment(settings), "--once")

    assert code == 1
    assert "error: the source API refused the API key (401" in log
    assert "set OLIST_API_KEY to the key the API was started with" in log


async def test_unreachable_api_stops_after_the_startup_check(
    pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = producer_settings(
        url, pubsub_resources, tmp_path / "cursor.json", startup_check_timeout_seconds=1.0
    )

    code, log = run_producer_process(producer_environment(settings), "--once")

    assert code == 1
    assert f"error: the source API at {url} stayed unavailable" in log
    assert "check that it runs and that OLIST_API_URL is right" in log


async def test_invalid_setting_is_named_and_exits_with_code_2(
    pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    settings = producer_settings("http://127.0.0.1:1", pubsub_resources, tmp_path / "c.json")
    environment = producer_environment(settings)
    environment["OLIST_EVENTS_PER_MESSAGE"] = "0"

    code, log = run_producer_process(environment, "--once")

    assert code == 2
    assert "error: invalid configuration" in log
    assert "events_per_message" in log


@pytest.mark.slow  # a real producer run
async def test_terminal_error_mid_run_persists_what_was_confirmed_and_exits_1(
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
        api.url, pubsub_resources, cursor_path, api_page_size=100, max_events_per_second=500
    )
    producer = ProducerProcess(producer_environment(settings), ["--once"]).start()
    try:
        await wait_until_async(
            lambda: cursor_sequence(cursor_path) >= 300, 90, "a cursor past sequence 300"
        )
        # The API comes back on the same port demanding a key the producer does not have.
        api.stop()
        api.api_key = "rotated-key"
        api.start()
        assert producer.wait(120) == 1
        log = producer.log()
    finally:
        producer.close()

    assert "error: the source API refused the API key (401" in log
    persisted = cursor_sequence(cursor_path)
    assert 300 <= persisted < max(expected.values())
    received = set(pulled_event_ids(pull_messages(pubsub_resources.subscription_path())))
    assert {event_id for event_id, sequence in expected.items() if sequence <= persisted} <= (
        received
    )


async def test_sigint_stops_like_sigterm_with_exit_zero(
    database_url: str, api_server: ApiProcess, pubsub_resources: PubSubSettings, tmp_path: Path
) -> None:
    await seed_events(database_url, orders=50)
    cursor_path = tmp_path / "cursor.json"
    settings = producer_settings(api_server.url, pubsub_resources, cursor_path)
    producer = ProducerProcess(producer_environment(settings)).start()
    try:
        await wait_until_async(lambda: cursor_sequence(cursor_path) > 0, 90, "a first cursor")
        producer.signal(signal.SIGINT)
        assert producer.wait(60) == 0, producer.log()
        log = producer.log()
    finally:
        producer.close()

    assert "stop requested" in log
    assert cursor_sequence(cursor_path) == len(await source_event_ids(database_url))
