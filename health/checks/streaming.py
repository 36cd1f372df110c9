"""Streaming job: ``/status`` answers, the query runs, triggers keep coming and are fast
enough, and few rows were rejected in the last hour.

The age of the last trigger counts idle triggers too (a trigger that found nothing to read is
a live query); before the first trigger it is the age of the job.
"""

from __future__ import annotations

import time

from health.probes import Probes, Unreachable
from health.result import CheckResult, Status, graded, unmeasured

COMPONENT = "streaming"


def check(probes: Probes) -> list[CheckResult]:
    settings = probes.settings
    try:
        status = probes.stream_status()
    except Unreachable as error:
        return [unmeasured(COMPONENT, "status", Status.FAIL, f"streaming job unreachable: {error}")]
    if not status.get("active") or status.get("exception"):
        reason = status.get("exception") or "not running"
        return [unmeasured(COMPONENT, "query", Status.FAIL, f"streaming query {reason}")]
    trigger = settings.trigger_seconds
    warn_age, fail_age = settings.late_seconds()
    last = status.get("last_trigger_at") or status["started_at"]
    age = round(max(0.0, time.time() - float(last)), 1)
    results = [
        graded(
            COMPONENT, "last_trigger_age", age, warn_age, fail_age, " s",
            f"streaming job's last trigger (batch {status.get('last_batch_id')}) was",
        )
    ]  # fmt: skip
    duration_ms = ((status.get("last_progress") or {}).get("duration_ms") or {}).get(
        "triggerExecution"
    )
    if duration_ms is None:
        results.append(
            unmeasured(COMPONENT, "last_batch_duration", Status.OK, "streaming job: no batch yet")
        )
    else:
        results.append(
            graded(
                COMPONENT, "last_batch_duration", round(duration_ms / 1000, 3),
                settings.health_batch_duration_warn_triggers * trigger,
                settings.health_batch_duration_fail_triggers * trigger,
                " s", f"streaming job's last batch ({status.get('last_batch_id')}) took",
            )
        )  # fmt: skip
    last_hour = status.get("last_hour")
    if last_hour is None:
        results.append(
            unmeasured(
                COMPONENT, "rejected_rows_last_hour", Status.WARN,
                "streaming job's /status has no last_hour: a job older than the health checks",
            )
        )  # fmt: skip
    else:
        results.append(
            graded(
                COMPONENT, "rejected_rows_last_hour", int(last_hour["rejected_rows"]),
                settings.health_rejected_rows_warn, settings.health_rejected_rows_fail,
                " rows", "streaming job rejected in the last hour",
            )
        )  # fmt: skip
    return results
