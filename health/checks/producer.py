"""Producer: lag behind the source API's head, in events and in seconds.

Lag in events is the API's ``head_sequence`` minus the cursor the producer has persisted (its
``olist_producer_cursor_sequence`` metric); in seconds, how long the producer has been behind
(now minus ``olist_producer_caught_up_timestamp_seconds``), 0 while it is caught up.
"""

from __future__ import annotations

import time

from health.probes import Probes, Unreachable
from health.result import CheckResult, Status, graded, unmeasured

COMPONENT = "producer"


def check(probes: Probes) -> list[CheckResult]:
    settings = probes.settings
    try:
        metrics = probes.producer_metrics()
    except Unreachable as error:
        return [unmeasured(COMPONENT, "lag", Status.FAIL, f"producer metrics unreachable: {error}")]
    cursor = int(metrics.get("olist_producer_cursor_sequence", 0))
    try:
        head = probes.api_head()
    except Unreachable:
        # The API's own check fails; the producer's last view of the head is the next best.
        head = int(metrics.get("olist_producer_head_sequence", cursor))
    lag_events = max(0, head - cursor)
    caught_up_at = metrics.get("olist_producer_caught_up_timestamp_seconds")
    results = [
        graded(
            COMPONENT, "lag_events", lag_events,
            settings.health_producer_lag_warn_events, settings.health_producer_lag_fail_events,
            " events", f"producer lag behind the API head {head} (cursor {cursor})",
        )
    ]  # fmt: skip
    if caught_up_at is None:
        results.append(
            unmeasured(
                COMPONENT, "lag_seconds", Status.WARN,
                "producer lag in seconds unknown: no olist_producer_caught_up_timestamp_seconds",
            )
        )  # fmt: skip
    else:
        seconds = 0.0 if lag_events == 0 else round(max(0.0, time.time() - caught_up_at), 1)
        results.append(
            graded(
                COMPONENT, "lag_seconds", seconds,
                settings.health_producer_lag_warn_seconds,
                settings.health_producer_lag_fail_seconds,
                " s", "producer behind the API head for",
            )
        )  # fmt: skip
    return results
