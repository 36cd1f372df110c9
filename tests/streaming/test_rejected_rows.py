"""``olist deadletter rejected``: counting, showing and replaying the job's rejected rows, on
bqemulator and the Pub/Sub emulator. A replay sends only payloads that are valid today, each
row once, and keeps the event's id.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson

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


def _row(
    message_id: str, index: int, payload: bytes | None, reason: str, raw_type: str
) -> dict[str, object]:
    published = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
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


def test_replay_sends_what_is_valid_now_once_and_count_and_inspect_show_the_rest(
    bigquery_emulator: BigQueryEmulator,
    bigquery_dataset: str,
    pubsub_resources: PubSubSettings,
) -> None:
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
    raw_type = next(field.field_type for field in schema if field.name == "raw_payload")
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
    assert first.replayed_keys == [("m-1", 0)]
    assert second.replayed == 0  # recorded: never twice
    [message] = pull_messages(pubsub_resources.subscription_path())
    assert [event["event_id"] for event in message.events] == [EXAMPLE_EVENT["event_id"]]
