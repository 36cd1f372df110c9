"""Settings of the streaming job: intervals, the BigQuery load-job quota warning, defaults."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from streaming.settings import StreamSettings, parse_interval_seconds


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [("5 minutes", 300), ("30 seconds", 30), ("1 hour", 3600), ("1.5 seconds", 1.5)],
)
def test_intervals_are_read_like_spark_reads_them(interval: str, seconds: float) -> None:
    assert parse_interval_seconds(interval) == seconds


@pytest.mark.parametrize(
    "bad", ["5", "five minutes", "5 fortnights", "-1 seconds", "", "0.5 minutes"]
)
def test_a_bad_interval_is_refused_with_the_value(bad: str) -> None:
    with pytest.raises(ValidationError, match="interval"):
        StreamSettings(trigger_interval=bad)


def test_a_trigger_faster_than_the_load_job_quota_allows_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert StreamSettings(trigger_interval="30 seconds").warn_about_load_job_quota() is True
    assert "2880 BigQuery load jobs per table per day" in caplog.text
    assert "quota of 1500" in caplog.text
    caplog.clear()
    assert StreamSettings().warn_about_load_job_quota() is False  # 5 minutes: 288 a day
    assert (
        StreamSettings(
            trigger_interval="30 seconds", available_now=True
        ).warn_about_load_job_quota()
        is False
    )
    assert caplog.text == ""


def test_the_storage_write_method_lifts_the_load_job_quota_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = StreamSettings(
            trigger_interval="2 seconds", bigquery_write_method="storage_write"
        )
        assert settings.warn_about_load_job_quota() is False
    assert caplog.text == ""
    with pytest.raises(ValidationError, match="bigquery_write_method"):
        StreamSettings(bigquery_write_method="streaming_inserts")


def test_defaults_run_locally_and_staging_sits_beside_the_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    settings = StreamSettings()
    assert settings.trigger_interval == "5 minutes"
    # Absolute, against the working directory at start (what the logs show).
    assert settings.checkpoint_dir == Path.cwd() / ".local/stream/checkpoint"
    assert settings.resolved_staging_dir == Path.cwd() / ".local/stream/pubsub-staging"
    assert settings.subscription_path == (
        "projects/olist-local/subscriptions/olist-order-events-streaming"
    )
    assert settings.pubsub_emulator_host is None
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
    monkeypatch.setenv("OLIST_CHECKPOINT_DIR", "/data/checkpoint")
    configured = StreamSettings()
    assert configured.pubsub_emulator_host == "127.0.0.1:8085"
    assert configured.resolved_staging_dir == Path("/data/pubsub-staging")


def test_command_line_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from streaming.job import settings_with_overrides

    monkeypatch.setenv("OLIST_TRIGGER_INTERVAL", "2 minutes")
    assert settings_with_overrides(False, None).trigger_interval == "2 minutes"
    overridden = settings_with_overrides(True, "10 seconds")
    assert (overridden.trigger_interval, overridden.available_now) == ("10 seconds", True)
