"""``olist services up|status|env|down``: the local servers in the background, by hand."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.producer import REPOSITORY_ROOT

pytestmark = pytest.mark.slow


def olist(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment["PYTHONPATH"] = str(REPOSITORY_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "olist_cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,  # a bound against a hang, not a performance expectation
    )


def exported(stdout: str) -> dict[str, str]:
    variables = {}
    for line in stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        (variables[name],) = shlex.split(value)
    return variables


def test_services_up_is_idempotent_status_reports_them_and_down_stops_them() -> None:
    # Not tmp_path: pytest makes /tmp/pytest-of-<user> private again whenever a session
    # starts, and PostgreSQL runs as another user than root.
    work = tempfile.TemporaryDirectory(prefix="olist-services-test-")
    folder = Path(work.name) / "services"
    try:
        first = olist("services", "up", "--dir", str(folder))
        assert first.returncode == 0, first.stderr
        variables = exported(first.stdout)
        assert sorted(variables) == sorted([
            "OLIST_DATABASE_URL", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "OLIST_BIGQUERY_API_ENDPOINT",
            "OLIST_GCP_PROJECT", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "SPARK_HOME", "PYSPARK_PYTHON",
        ])  # fmt: skip
        assert variables["PYSPARK_PYTHON"] == sys.executable
        assert (Path(variables["SPARK_HOME"]) / "bin" / "spark-class").is_file()
        # bqemulator started offline: its DuckDB extensions came from the wheels.
        ready = urllib.request.urlopen(f"{variables['OLIST_BIGQUERY_API_ENDPOINT']}/readyz")
        assert json.loads(ready.read())["status"] == "ok"
        states = json.loads((folder / "services.json").read_text())

        second = olist("services", "up", "--dir", str(folder))
        status = olist("services", "status", "--dir", str(folder))
        again = olist("services", "env", "--dir", str(folder))

        assert second.returncode == 0 and second.stdout == first.stdout, second.stderr
        assert json.loads((folder / "services.json").read_text()) == states  # nothing restarted
        assert status.returncode == 0, status.stdout
        assert [line.split()[:2] for line in status.stdout.splitlines()] == [
            ["postgres", "running"], ["pubsub", "running"], ["gcs", "running"],
            ["bigquery", "running"],
        ]  # fmt: skip
        assert f"log={folder / 'bigquery' / 'bqemulator.log'}" in status.stdout
        assert again.stdout == first.stdout
    finally:
        down = olist("services", "down", "--dir", str(folder))
    assert down.returncode == 0, down.stderr
    after = olist("services", "status", "--dir", str(folder))
    assert after.returncode == 1
    assert [line.split()[:2] for line in after.stdout.splitlines()] == [
        ["postgres", "stopped"], ["pubsub", "stopped"], ["gcs", "stopped"], ["bigquery", "stopped"]
    ]  # fmt: skip
    for state in states.values():
        with pytest.raises(ProcessLookupError):
            os.kill(state["pid"], 0)
    assert (folder / "postgres" / "PG_VERSION").exists()  # data stays for the next `up`
    work.cleanup()
