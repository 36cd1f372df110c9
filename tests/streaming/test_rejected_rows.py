"""``olist deadletter rejected``: counting, showing and replaying the job's rejected rows, on
bqemulator and the Pub/Sub emulator. A replay sends only payloads that are valid today, each
row once, and keeps the event's id.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from emulators.bigquery import BigQueryEmulator
from producer.settings import PubSubSettings
from schemas import warehouse
from schemas.examples import EXAMPLE_EVENT
from streaming.bigquery_loader import BigQueryTable
from streaming.rejected_rows import RejectedRows
from streaming.settings import StreamSettings
from tests.fixtures.producer import pull_messages

NOW_VALID = orjson.dumps(EXAMPLE_EVENT)
STILL_INVALID = orjson.dumps({**EXAMPLE_EVENT, "price": -1})
PUBLISHED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _row(
    message_id: str,
    index: int,
    payload: bytes | None,
    reason: str,
    raw_type: str,
    published: datetime = PUBLISHED,
) -> dict[str, object]:
    raw: object = payload
    if payload is not None:
        # insertAll takes BYTES as base64; a STRING column (older tables) takes the text.
        raw = base64.b64encode(payload).decode() if raw_type == "BYTES" else payload.decode()
    return {
        "rejected_date": published.date().isoformat(),
        "pubsub_message_id": message_id,
        "pubsub_publish_time": published.isoformat(),
        "event_index": index,
        "attributes_json": "{}",
        "raw_payload": raw,
        "reason": reason,
        "stream_batch_id": 3,
    }


@pytest.fixture
def rejected(
    bigquery_emulator: BigQueryEmulator, bigquery_dataset: str, pubsub_resources: PubSubSettings
) -> tuple[RejectedRows, str]:
    """The rejected rows' table, created as the job creates it, and its raw payload's type."""
    settings = StreamSettings(
        gcp_project=bigquery_emulator.project,
        bigquery_dataset=bigquery_dataset,
        pubsub_topic=pubsub_resources.pubsub_topic,
    )
    client = bigquery_emulator.client()
    table = BigQueryTable(client, bigquery_dataset, settings.bigquery_rejected_table,
                          warehouse.REJECTED_FIELDS, partition_field="rejected_date")  # fmt: skip
    table.ensure_exists()
    rows = RejectedRows(settings, client)
    schema = client.get_table(rows.table).schema
    return rows, next(field.field_type for field in schema if field.name == "raw_payload")


def test_replay_sends_what_is_valid_now_once_and_count_and_inspect_show_the_rest(
    rejected: tuple[RejectedRows, str], pubsub_resources: PubSubSettings
) -> None:
    rows, raw_type = rejected
    client = rows.client
    errors = client.insert_rows_json(
        rows.table,
        [
            _row("m-1", 0, NOW_VALID, "price: must be at most 1000 (since relaxed)", raw_type),
            _row("m-1", 1, STILL_INVALID, "price: must be >= 0", raw_type),
            _row("m-2", 0, None, "payload is empty", raw_type),
        ],
    )
    assert errors == []

    counts = rows.count_by_reason()
    shown = rows.inspect(limit=10)
    first = rows.replay(pubsub_resources.topic_path())
    second = rows.replay(pubsub_resources.topic_path())

    assert counts == {
        "price: must be at most 1000 (since relaxed)": 1,
        "price: must be >= 0": 1,
        "payload is empty": 1,
    }
    assert [(row["pubsub_message_id"], row["event_index"]) for row in shown] == [
        ("m-1", 0), ("m-1", 1), ("m-2", 0)
    ]  # fmt: skip
    assert (first.replayed, first.still_invalid, first.without_payload) == (1, 1, 1)
    assert first.replayed_keys == [("m-1", PUBLISHED, 0)]
    assert second.replayed == 0  # recorded: never twice
    [message] = pull_messages(pubsub_resources.subscription_path())
    assert [event["event_id"] for event in message.events] == [EXAMPLE_EVENT["event_id"]]


def test_rows_of_two_messages_sharing_a_message_id_are_each_replayed_once(
    rejected: tuple[RejectedRows, str], pubsub_resources: PubSubSettings
) -> None:
    """A restarted Pub/Sub emulator hands out message ids again: the publish time tells the
    two messages apart, so recording the first replay does not hide the second row."""
    rows, raw_type = rejected
    client = rows.client
    after_restart = PUBLISHED + timedelta(minutes=5)
    second_event = {**EXAMPLE_EVENT, "event_id": "00000000-0000-4000-8000-000000000002"}
    row = _row("1", 0, NOW_VALID, "price: relaxed since", raw_type)
    assert client.insert_rows_json(rows.table, [row]) == []
    first = rows.replay(pubsub_resources.topic_path())
    row = _row("1", 0, orjson.dumps(second_event), "price: relaxed since", raw_type,
               published=after_restart)  # fmt: skip
    assert client.insert_rows_json(rows.table, [row]) == []  # after an emulator restart

    second = rows.replay(pubsub_resources.topic_path())
    third = rows.replay(pubsub_resources.topic_path())

    assert first.replayed_keys == [("1", PUBLISHED, 0)]
    assert second.replayed_keys == [("1", after_restart, 0)]
    assert third.replayed == 0
    messages = pull_messages(pubsub_resources.subscription_path())
    assert sorted(event["event_id"] for message in messages for event in message.events) == sorted(
        [EXAMPLE_EVENT["event_id"], second_event["event_id"]]
    )
