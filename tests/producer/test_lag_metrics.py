"""The producer exports how long it has been behind: the time its cursor last reached the head."""

from __future__ import annotations

import time

from producer.metrics import ProducerMetrics


def test_caught_up_time_moves_only_while_the_cursor_is_at_the_head(monkeypatch) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    metrics = ProducerMetrics()

    def sample(name: str) -> float | None:
        return metrics.registry.get_sample_value(name)

    assert sample("olist_producer_caught_up_timestamp_seconds") == 1_000.0  # process start
    clock[0] = 1_010.0
    metrics.observe_head(50)  # 50 events behind from now on
    clock[0] = 1_020.0
    metrics.observe_cursor(20)
    assert sample("olist_producer_lag_events") == 30
    assert sample("olist_producer_caught_up_timestamp_seconds") == 1_000.0
    clock[0] = 1_030.0
    metrics.observe_cursor(50)
    assert sample("olist_producer_lag_events") == 0
    assert sample("olist_producer_caught_up_timestamp_seconds") == 1_030.0
