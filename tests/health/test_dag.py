"""The ``pipeline_health`` DAG in Airflow 3.3 (its own virtualenv, driven as a subprocess):
it imports, has one task per component on a 5-minute schedule, and ``dag.test()`` succeeds
against the running pipeline and fails on the producer's task alone when the producer stops,
posting the failed checks to the webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from health.run import COMPONENTS
from tests.fixtures.airflow import AirflowRunner
from tests.fixtures.health import RunningPipeline

pytestmark = pytest.mark.slow


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A local Slack-compatible webhook receiver: its URL and the JSON bodies posted to it."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_dag_imports_with_one_task_per_component_every_5_minutes(
    airflow_runner: AirflowRunner,
) -> None:
    report = airflow_runner()
    assert report["import_errors"] == {}
    assert report["schedule"] == "*/5 * * * *"
    assert report["catchup"] is False
    assert report["max_active_runs"] == 1
    assert list(report["tasks"]) == list(COMPONENTS)
    for task in report["tasks"].values():
        assert task == {"retries": 0, "execution_timeout": 120.0, "has_failure_callback": True}


def test_dag_test_succeeds_against_the_running_pipeline(
    airflow_runner: AirflowRunner, running_pipeline: RunningPipeline
) -> None:
    # Settings through the Airflow Variable (AIRFLOW_VAR_* is one of its sources), none in env.
    variable = json.dumps(running_pipeline.health_env)
    report = airflow_runner("--run", AIRFLOW_VAR_OLIST_HEALTH_SETTINGS=variable)
    assert report["task_states"] == dict.fromkeys(COMPONENTS, "success"), report["log"][-5000:]
    assert report["run_state"] == "success"


def test_dag_test_fails_on_the_producer_task_alone_when_the_producer_stops(
    airflow_runner: AirflowRunner,
    running_pipeline: RunningPipeline,
    webhook: tuple[str, list[dict[str, str]]],
) -> None:
    url, received = webhook
    with running_pipeline.stopped("producer", "producer"):
        report = airflow_runner(
            "--run", **running_pipeline.health_env, OLIST_HEALTH_WEBHOOK_URL=url
        )
    expected = {**dict.fromkeys(COMPONENTS, "success"), "producer": "failed"}
    assert report["task_states"] == expected, report["log"][-5000:]
    assert report["run_state"] == "failed"
    assert len(received) == 1
    text = received[0]["text"]
    assert text.startswith("pipeline_health: producer failed (run manual__")
    assert "producer metrics unreachable: " in text
