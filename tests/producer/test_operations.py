"""Producer operations (issue 14 §2): one producer per cursor, a cursor ahead of the source,
unpublishable events, retries that never spin, bounded answers, a /healthz that sees a stall.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from unittest import mock

import httpx
import orjson
import pytest
from google.api_core.exceptions import PreconditionFailed

from emulators.gcs import FakeGcsServer
from producer.backoff import BackoffPolicy
from producer.confirmation import Cursor
from producer.cursor_store import GcsCursorStore, LocalFileCursorStore, open_cursor_store
from producer.errors import CursorStoreError, ResponseTooLarge
from producer.metrics import MetricsServer, ProducerMetrics
from producer.packing import TRUNCATED_DEAD_LETTER_BYTES, dead_letter_message
from producer.settings import PubSubSettings
from producer.source_client import SourceClient
from producer.validation import validate_events
from schemas.envelope import MAX_PAYLOAD_BYTES
from schemas.examples import EXAMPLE_EVENT
from source_api.cursor import encode_cursor
from tests.fixtures.api import ApiProcess
from tests.fixtures.producer import (
    ProducerProcess,
    producer_environment,
    producer_settings,
    seed_events,
)

# --- one producer per cursor -----------------------------------------------------------------


async def test_a_second_producer_on_a_local_cursor_stops_at_start(tmp_path: Path) -> None:
    path = tmp_path / "cursor.json"
    first = LocalFileCursorStore(path)
    assert await first.load() is None

    with pytest.raises(CursorStoreError, match=rf"another producer \(pid {os.getpid()}\) holds"):
        await LocalFileCursorStore(path).load()

    first.release()
    assert await LocalFileCursorStore(path).load() is None


async def test_a_retried_cursor_upload_that_had_landed_is_not_taken_for_another_producer(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    location = f"gs://{gcs_bucket}/retried/cursor.json"
    store = open_cursor_store(location, gcs_server.endpoint)
    assert isinstance(store, GcsCursorStore)
    assert await store.load() is None
    blob = store._blob
    upload = blob.upload_from_string

    def lands_then_answers_412(*args: object, **kwargs: object) -> None:
        # The first attempt lands; its answer is lost; the client's retry, conditional on the
        # old generation, gets 412 (fake-gcs-server cannot lose an answer, so this double).
        upload(*args, **kwargs)
        raise PreconditionFailed("conditionNotMet")

    with mock.patch.object(blob, "upload_from_string", lands_then_answers_412):
        await store.save(Cursor("first", 10))
    await store.save(Cursor("second", 20))  # the generation adopted after the 412 is right

    assert await open_cursor_store(location, gcs_server.endpoint).load() == Cursor("second", 20)


# --- a cursor ahead of the source ------------------------------------------------------------


@pytest.mark.slow  # a real producer process
async def test_a_cursor_ahead_of_the_source_head_stops_the_producer_with_what_to_do(
    database_url: str,
    api_server: ApiProcess,
    pubsub_resources: PubSubSettings,
    tmp_path: Path,
) -> None:
    await seed_events(database_url, orders=20)
    cursor_path = tmp_path / "cursor.json"
    # The cursor of a producer that had read 1,000,000 events of a database since rebuilt.
    cursor_path.write_bytes(
        orjson.dumps({"cursor": encode_cursor(1_000_000), "last_sequence": 1_000_000})
    )
    settings = producer_settings(api_server.url, pubsub_resources, cursor_path)
    producer = ProducerProcess(producer_environment(settings), []).start()
    try:
        code = producer.wait(120)
        log = producer.log()
    finally:
        producer.close()

    assert code == 1, log
    assert "the cursor is at source_sequence 1000000 but the source's head is" in log
    assert f"move the cursor {cursor_path} away to publish everything again" in log
    assert orjson.loads(cursor_path.read_bytes())["last_sequence"] == 1_000_000  # untouched


# --- unpublishable events --------------------------------------------------------------------


def test_an_event_that_is_not_json_is_dead_lettered_and_the_page_flows_on() -> None:
    good = orjson.dumps(EXAMPLE_EVENT)
    broken = good.replace(b"sao paulo", b"s\xffo paulo")

    page = validate_events([good, broken, good])

    assert len(page.events) == 2
    [refused] = page.invalid
    assert refused.reason.startswith("event 1 of its page is not JSON: ")
    assert refused.data == broken


def test_an_event_too_large_for_any_message_is_dead_lettered_with_its_size_and_digest() -> None:
    huge = orjson.dumps({**EXAMPLE_EVENT, "customer_city": "x" * MAX_PAYLOAD_BYTES})

    page = validate_events([orjson.dumps(EXAMPLE_EVENT), huge])

    assert len(page.events) == 1
    [refused] = page.invalid
    assert refused.reason == (
        f"event is {len(huge)} bytes, over the {MAX_PAYLOAD_BYTES}-byte budget of a Pub/Sub "
        "message: it cannot be published"
    )
    assert refused.source_sequence == EXAMPLE_EVENT["source_sequence"]
    message = dead_letter_message(refused)
    assert message.data == huge[:TRUNCATED_DEAD_LETTER_BYTES]
    assert message.attributes["truncated"] == "true"
    assert message.attributes["original_bytes"] == str(len(huge))
    assert message.attributes["sha256"] == hashlib.sha256(huge).hexdigest()


# --- retries and answers ---------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [0.0, -5.0])
def test_retry_after_zero_or_past_never_makes_a_zero_wait_loop(retry_after: float) -> None:
    policy = BackoffPolicy(initial_delay=0.2, max_delay=5.0)
    waits = [policy.delay(attempt, max(0.0, retry_after)) for attempt in range(1, 8)]

    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 2.5, 2.5]


def test_a_longer_retry_after_is_honoured() -> None:
    assert BackoffPolicy(initial_delay=0.2, max_delay=5.0).delay(1, 30.0) == 30.0


async def test_an_answer_over_the_limit_is_refused_without_being_held(
    database_url: str, api_server: ApiProcess
) -> None:
    await seed_events(database_url, orders=20)
    policy = BackoffPolicy(0.01, 0.05, timeout=5)
    async with SourceClient(api_server.url, policy, max_response_bytes=4096) as client:
        with pytest.raises(ResponseTooLarge, match="answer is over 4096 bytes"):
            await client.fetch_page(None, limit=100)
        page = await client.fetch_page(None, limit=1)  # a small page still passes
    assert len(page.events) == 1


# --- /healthz --------------------------------------------------------------------------------


async def test_healthz_reports_a_producer_stuck_in_retries_past_the_threshold() -> None:
    now = [1000.0]
    metrics = ProducerMetrics(clock=lambda: now[0])
    metrics.stuck_threshold_seconds = 300
    server = await MetricsServer(metrics, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.port}/healthz"
    try:
        async with httpx.AsyncClient() as client:
            metrics.note_retry("api")
            now[0] += 299
            assert (await client.get(url)).status_code == 200  # not past the threshold yet
            now[0] += 2
            stuck = await client.get(url)
            metrics.note_progress()
            recovered = await client.get(url)
    finally:
        await server.stop()

    assert stuck.status_code == 503
    assert stuck.text == "stuck retrying api for 301 s without progress (threshold 300 s)\n"
    assert recovered.status_code == 200
