"""``olist api`` fails in one log line with a documented exit code (docs/operations/by-hand.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.processes import free_port


def _api(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OLIST_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "olist_cli", "api"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variables", "code", "line"),
    [
        ({}, 2, "api cannot start: invalid configuration: Value error, OLIST_API_KEY is not set"),
        (
            {
                "OLIST_API_KEY": "k",
                "OLIST_DATABASE_URL": "postgresql://olist:pw@127.0.0.1:{port}/x",
            },
            3,
            "api cannot start: expected a reachable PostgreSQL server at 127.0.0.1:{port}/x",
        ),
    ],
    ids=["no-key", "no-database"],
)
def test_a_fatal_start_is_one_error_line_and_its_exit_code(
    variables: dict[str, str], code: int, line: str
) -> None:
    port = str(free_port())
    result = _api(**{name: value.format(port=port) for name, value in variables.items()})

    assert result.returncode == code
    errors = [text for text in result.stderr.splitlines() if "level=ERROR" in text]
    assert len(errors) == 1, result.stderr
    assert line.format(port=port) in errors[0]
    assert "Traceback" not in result.stderr
    assert ":pw@" not in result.stderr
