"""Grading a measure against its thresholds, the worst status, the table and the intervals."""

from __future__ import annotations

import pytest

from health.cli import render_table
from health.result import Status, graded, unmeasured, worst
from health.settings import HealthSettings, interval_seconds


def test_a_value_is_graded_against_the_warn_then_the_fail_threshold() -> None:
    def grade(value: float) -> tuple[Status, str, str]:
        result = graded("producer", "lag_seconds", value, 120, 600, " s", "producer behind for")
        return result.status, result.threshold, result.message

    assert grade(120) == (Status.OK, "<= 120 s", "producer behind for: 120 s")
    assert grade(121) == (Status.WARN, "<= 120 s", "producer behind for: 121 s (over 120 s)")
    assert grade(601) == (Status.FAIL, "<= 600 s", "producer behind for: 601 s (over 600 s)")


def test_the_worst_status_is_the_exit_code() -> None:
    ok = unmeasured("pubsub", "backlog", Status.OK, "not measured")
    warn = unmeasured("storage", "lake", Status.WARN, "not compared")
    fail = unmeasured("streaming", "status", Status.FAIL, "unreachable")
    assert worst([]) is Status.OK
    assert worst([ok, warn]) == 1
    assert worst([fail, ok, warn]) == 2
    assert fail.as_dict() == {
        "component": "streaming", "check": "status", "status": "fail", "value": None,
        "threshold": "-", "message": "unreachable",
    }  # fmt: skip


def test_the_table_aligns_its_columns_and_shows_a_missing_value_as_a_dash() -> None:
    rows = [
        graded("producer", "lag_events", 0, 10, 20, " events", "lag").as_dict(),
        unmeasured("pubsub", "backlog", Status.OK, "not measured").as_dict(),
    ]
    assert render_table(rows).splitlines() == [
        "component  check       status  value  threshold     message",
        "producer   lag_events  ok      0      <= 10 events  lag: 0 events",
        "pubsub     backlog     ok      -      -             not measured",
    ]


def test_thresholds_scale_with_the_trigger_interval() -> None:
    assert interval_seconds("5 minutes") == 300
    assert interval_seconds("1 hour") == 3600
    assert interval_seconds("2 seconds") == 2
    assert HealthSettings().late_seconds() == (600, 900)
    assert HealthSettings(trigger_interval="1 minute").late_seconds() == (120, 180)
    with pytest.raises(ValueError, match="expected '<number> <unit>'"):
        HealthSettings(trigger_interval="soon")
