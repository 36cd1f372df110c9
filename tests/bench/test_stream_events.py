"""bench.stream's synthetic events: valid, and warm-up events share no id with measured ones."""

from __future__ import annotations

import orjson

from bench.stream import events
from schemas.order_event import OrderEvent


def test_events_are_valid_and_numbered_from_first() -> None:
    measured = [orjson.loads(raw) for raw in events(50, days=3)]
    warmup = [orjson.loads(raw) for raw in events(20, days=3, first=50)]
    for raw in events(3, days=3, first=50):
        OrderEvent.model_validate_json(raw)
    assert [event["source_sequence"] for event in warmup] == list(range(51, 71))
    measured_ids = {event["event_id"] for event in measured}
    warmup_ids = {event["event_id"] for event in warmup}
    assert len(measured_ids) == 50
    assert len(warmup_ids) == 20
    assert not measured_ids & warmup_ids
