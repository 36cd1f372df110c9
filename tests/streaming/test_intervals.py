"""Interval settings are read as Spark reads them: what validation accepts, Spark starts with."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from streaming.intervals import IntervalError, interval_microseconds
from streaming.settings import StreamSettings

CORPUS = [
    "5 minutes", "0.5 minutes", "1.5 seconds", "0.5 second", "1 hour 30 minutes",
    "interval 5 minutes", "5 MINUTES", " 5 minutes ", "+5 minutes", "1 hour -30 minutes",
    "5 min", "5 mins", "5 m", "5 s", "5 sec", "5 h", "5 hr", "1 d", "10 ms", "1e3 seconds",
    "5", "5minutes", "1.5 hours", "-5 minutes", "1 week", "2 days", "1 day 2 hours",
    "10 milliseconds", "0.001 seconds", "1000 microseconds", "1 month", "1 year",
]  # fmt: skip


@pytest.mark.parametrize(
    ("interval", "microseconds"),
    [
        ("5 minutes", 300_000_000),
        ("1.5 seconds", 1_500_000),
        ("1 hour 30 minutes", 5_400_000_000),
        ("interval 2 DAYS", 172_800_000_000),
        ("1 hour -30 minutes", 1_800_000_000),
    ],
)
def test_intervals_are_read_like_spark_reads_them(interval: str, microseconds: int) -> None:
    assert interval_microseconds(interval) == microseconds


@pytest.mark.parametrize(
    ("interval", "rule"),
    [
        ("0.5 minutes", "only seconds may have a fraction"),
        ("5 min", "unknown unit 'min'"),
        ("30 s", "unknown unit 's'"),
        ("1 month", "months and years"),
        ("0 seconds", "must be positive"),
        ("5", "expected '<number> <unit>'"),
    ],
)
def test_an_interval_spark_would_refuse_is_refused_at_validation(interval: str, rule: str) -> None:
    with pytest.raises(IntervalError, match=rule):
        interval_microseconds(interval)
    with pytest.raises(ValidationError, match=rule):
        StreamSettings(trigger_interval=interval)
    with pytest.raises(ValidationError, match=rule):
        StreamSettings(dedup_window=interval)


def test_validation_never_accepts_what_spark_refuses(spark: Any) -> None:
    """Every string validation accepts starts a trigger and a watermark with the same length."""
    jvm = spark.sparkContext._jvm
    frame = spark.range(1).selectExpr("current_timestamp() AS at")
    accepted = 0
    for interval in CORPUS:
        try:
            ours = interval_microseconds(interval)
        except IntervalError:
            continue
        accepted += 1
        trigger = jvm.org.apache.spark.sql.streaming.Trigger.ProcessingTime(interval)
        assert trigger.intervalMs() == ours // 1000, interval
        frame.withWatermark("at", interval)  # raises if Spark refuses it
    assert accepted == 15
