"""``olist deadletter rejected``: the streaming job's rejected rows, counted, shown, replayed.

The job writes every payload it refuses to the BigQuery table ``order_events_rejected`` (and
to the lake), with the reason. After a fix (a schema relaxation, a corrected producer), the rows
whose payload is now a valid event can be sent back to the events topic:

- a row is replayed when its payload validates against :class:`schemas.OrderEvent` today;
  others stay, counted as still invalid;
- each replayed row is recorded in ``<rejected table>_replayed`` (message id, publish time
  and event index: a restarted Pub/Sub emulator hands out message ids again, the publish time
  tells its messages apart, :mod:`streaming.rejected_key`) *after* Pub/Sub confirmed the
  publish, and rows recorded there are never replayed again; a
  crash between the two publishes a row a second time, and the stream loads it once (the
  replayed event keeps its ``event_id``, which the job deduplicates on).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from schemas import OrderEvent
from schemas.envelope import encode_events
from schemas.fields import FieldSpec

if TYPE_CHECKING:
    from google.cloud import bigquery

    from streaming.settings import StreamSettings

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 60.0
REPLAYED_SUFFIX = "_replayed"
REPLAYED_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("pubsub_message_id", "string", False, description="Message of the replayed row."),
    FieldSpec("event_index", "int64", False, description="Position of the row in its message."),
    FieldSpec("replayed_at", "timestamp", False, description="When Pub/Sub confirmed the replay."),
    FieldSpec(
        "pubsub_publish_time",
        "timestamp",
        True,
        description="Publish time of the row's message; null in records older than this column, "
        "which then stand for every message of that id.",
    ),
)


@dataclass
class RejectedReplay:
    """What one replay did."""

    replayed: int = 0
    still_invalid: int = 0
    without_payload: int = 0
    replayed_keys: list[tuple[str, datetime, int]] = field(default_factory=list)
    """(message id, publish time, event index) of each row replayed."""


def _payload_bytes(value: Any) -> bytes | None:
    """The raw payload as bytes, whether the column is BYTES or (older tables) STRING."""
    if value is None:
        return None
    return value if isinstance(value, bytes) else str(value).encode()


class RejectedRows:
    """The rejected table of one job configuration and its replay record."""

    def __init__(self, settings: StreamSettings, client: bigquery.Client) -> None:
        self.settings = settings
        self.client = client
        dataset = f"{settings.gcp_project}.{settings.bigquery_dataset}"
        self.table = f"{dataset}.{settings.bigquery_rejected_table}"
        self.replayed_table = f"{self.table}{REPLAYED_SUFFIX}"

    def count_by_reason(self) -> Counter[str]:
        rows = self.client.query(
            f"SELECT reason, COUNT(*) AS n FROM `{self.table}` GROUP BY reason"
        ).result(timeout=120)
        return Counter({row["reason"]: int(row["n"]) for row in rows})

    def inspect(self, limit: int) -> list[dict[str, Any]]:
        rows = self.client.query(
            f"SELECT pubsub_message_id, event_index, pubsub_publish_time, reason, raw_payload "
            f"FROM `{self.table}` ORDER BY pubsub_publish_time, pubsub_message_id, event_index "
            f"LIMIT {int(limit)}"
        ).result(timeout=120)
        shown = []
        for row in rows:
            payload = _payload_bytes(row["raw_payload"]) or b""
            shown.append(
                {
                    "pubsub_message_id": row["pubsub_message_id"],
                    "event_index": row["event_index"],
                    "published": row["pubsub_publish_time"].isoformat(),
                    "reason": row["reason"],
                    "bytes": len(payload),
                    "payload_head": payload[:200].decode("utf-8", errors="replace"),
                }
            )
        return shown

    def _ensure_replayed_table(self) -> None:
        """Create the replay record, or add ``pubsub_publish_time`` to an older one."""
        from streaming.bigquery_loader import BigQueryTable

        BigQueryTable(
            self.client,
            self.settings.bigquery_dataset,
            f"{self.settings.bigquery_rejected_table}{REPLAYED_SUFFIX}",
            REPLAYED_FIELDS,
            location=self.settings.bigquery_location,
        ).ensure_exists()

    def _not_yet_replayed(self, limit: int | None) -> list[Any]:
        bound = "" if limit is None else f" LIMIT {int(limit)}"
        return list(
            self.client.query(
                "SELECT r.pubsub_message_id, r.pubsub_publish_time, r.event_index, r.raw_payload "
                f"FROM `{self.table}` AS r LEFT JOIN `{self.replayed_table}` AS p "
                "ON p.pubsub_message_id = r.pubsub_message_id AND p.event_index = r.event_index "
                "AND (p.pubsub_publish_time IS NULL "
                "OR p.pubsub_publish_time = r.pubsub_publish_time) "
                "WHERE p.pubsub_message_id IS NULL "
                f"ORDER BY r.pubsub_publish_time, r.pubsub_message_id, r.event_index{bound}"
            ).result(timeout=300)
        )

    def replay(self, topic_path: str, limit: int | None = None) -> RejectedReplay:
        """Publish rows whose payload is valid today; record each once Pub/Sub confirmed it."""
        from google.cloud import pubsub_v1

        self._ensure_replayed_table()
        report = RejectedReplay()
        publisher = pubsub_v1.PublisherClient()
        for row in self._not_yet_replayed(limit):
            payload = _payload_bytes(row["raw_payload"])
            if payload is None:
                report.without_payload += 1
                continue
            try:
                event = OrderEvent.model_validate_json(payload)
            except ValidationError:
                report.still_invalid += 1
                continue
            sequence = event.source_sequence
            message = encode_events([payload.replace(b"\n", b" ")], sequence, sequence)
            publisher.publish(topic_path, message.data, **message.attributes).result(
                timeout=PUBLISH_TIMEOUT_SECONDS
            )
            key = (
                str(row["pubsub_message_id"]),
                row["pubsub_publish_time"],
                int(row["event_index"]),
            )
            errors = self.client.insert_rows_json(
                self.replayed_table,
                [
                    {
                        "pubsub_message_id": key[0],
                        "pubsub_publish_time": key[1].isoformat(),
                        "event_index": key[2],
                        "replayed_at": datetime.now(UTC).isoformat(),
                    }
                ],
                timeout=60,
            )
            if errors:
                raise RuntimeError(
                    f"could not record the replay of {key} in {self.replayed_table}: {errors}"
                )
            report.replayed += 1
            report.replayed_keys.append(key)
            log.info(
                "rejected row replayed message_id=%s publish_time=%s event_index=%d topic=%s",
                key[0], key[1].isoformat(), key[2], topic_path,
            )  # fmt: skip
        return report
