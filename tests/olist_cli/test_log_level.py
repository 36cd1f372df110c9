"""``OLIST_LOG_LEVEL`` is a real setting: validated, case-insensitive, overridden by the flag."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from producer.settings import ProducerSettings
from schemas.log_format import LoggingSettings
from source_api.settings import ApiSettings
from source_db.settings import DatabaseSettings
from streaming.settings import StreamSettings


@pytest.mark.parametrize(
    "settings", [LoggingSettings, DatabaseSettings, ApiSettings, ProducerSettings, StreamSettings]
)
def test_every_process_reads_olist_log_level(
    settings: type[LoggingSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_API_AUTH_DISABLED", "true")  # the API's only required choice
    assert settings().log_level == "INFO"
    monkeypatch.setenv("OLIST_LOG_LEVEL", " debug ")
    assert settings().log_level == "DEBUG"


def test_an_unknown_level_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLIST_LOG_LEVEL", "verbose")
    with pytest.raises(ValidationError, match="log_level"):
        LoggingSettings()


def olist(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "olist_cli", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_command_line_refuses_a_bad_level_before_running_anything() -> None:
    result = olist("--log-level", "loud", "pubsub", "init", env=dict(os.environ))
    assert result.returncode == 2
    assert "--log-level / OLIST_LOG_LEVEL" in result.stderr
    assert "'LOUD': expected DEBUG, INFO, WARNING, ERROR or CRITICAL" in " ".join(
        result.stderr.replace("│", " ").split()
    )
