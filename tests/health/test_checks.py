"""The health checks against a running pipeline: all ok, then one stage broken at a time, and
exactly that component fails, with a message naming it. One pipeline serves every test
(tests/fixtures/health.py); each test restores the stage it broke."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from health.result import CheckResult, Status
from health.run import COMPONENTS, run_checks
from tests.fixtures.health import RunningPipeline

pytestmark = pytest.mark.slow


def _table(results: list[CheckResult]) -> str:
    return "\n".join(f"{r.component}.{r.check} {r.status} {r.value} {r.message}" for r in results)


def _failing(results: list[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.status is Status.FAIL]


def test_every_check_passes_on_a_running_pipeline(running_pipeline: RunningPipeline) -> None:
    results = run_checks(running_pipeline.settings())
    assert {r.component for r in results} == set(COMPONENTS)
    assert [r for r in results if r.status is not Status.OK] == [], _table(results)
    by_check = {(r.component, r.check): r for r in results}
    backlog = by_check["pubsub", "backlog"]
    assert backlog.value is None
    assert "not measured: the emulator has no Cloud Monitoring" in backlog.message
    assert by_check["pubsub", "dead_letters"].value == 0
    assert by_check["producer", "lag_events"].value == 0
    assert by_check["producer", "lag_seconds"].value == 0
    loaded = by_check["bigquery", "rows_last_hour"]
    assert loaded.value == running_pipeline.pipeline.count_loaded().rows
    assert by_check["storage", "lake_rows_last_hour"].value == loaded.value


def test_dead_letters_on_the_emulator_are_counted_without_being_consumed(
    running_pipeline: RunningPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import pubsub_v1

    variables = running_pipeline.pipeline.variables
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", variables["PUBSUB_EMULATOR_HOST"])
    project = running_pipeline.pipeline.project
    topic = f"projects/{project}/topics/{variables['OLIST_PUBSUB_DEAD_LETTER_TOPIC']}"
    dead_letters = variables["OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION"]
    subscription = f"projects/{project}/subscriptions/{dead_letters}"
    publisher = pubsub_v1.PublisherClient()
    for index in range(2):
        publisher.publish(topic, f"not an event {index}".encode()).result(timeout=60)
    try:
        for _ in range(2):  # counting hands the messages back: the second count is the same
            (dead,) = [
                r for r in run_checks(running_pipeline.settings(), ["pubsub"])
                if r.check == "dead_letters"
            ]  # fmt: skip
            assert (dead.status, dead.value) == (Status.WARN, 2)
            assert dead.message == (
                f"Pub/Sub dead letters waiting on {dead_letters}: 2 messages (over 0 messages)"
            )
    finally:
        with pubsub_v1.SubscriberClient() as subscriber:  # the other tests expect none
            acknowledged = 0
            while acknowledged < 2:
                response = subscriber.pull(subscription=subscription, max_messages=10, timeout=60)
                ack_ids = [message.ack_id for message in response.received_messages]
                if ack_ids:
                    subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
                acknowledged += len(ack_ids)


def test_rows_missing_from_bigquery_fail_only_the_bigquery_check(
    running_pipeline: RunningPipeline,
) -> None:
    pipeline = running_pipeline.pipeline
    table, backup = pipeline.table(), pipeline.table("order_events_backup")
    (row,) = pipeline.query(f"SELECT MIN(stream_batch_id) AS batch FROM {table}")
    batch = int(row["batch"])
    pipeline.query(
        f"CREATE TABLE {backup} AS SELECT * FROM {table} WHERE stream_batch_id = {batch}"
    )
    (row,) = pipeline.query(f"SELECT COUNT(*) AS n FROM {backup}")
    removed = int(row["n"])
    assert removed > 0
    pipeline.query(f"DELETE FROM {table} WHERE stream_batch_id = {batch}")
    try:
        results = run_checks(running_pipeline.settings())
        failing = _failing(results)
        assert {r.component for r in failing} == {"bigquery"}, _table(results)
        lost = next(r for r in failing if r.check == "rows_last_hour")
        assert lost.message.startswith(f"BigQuery {pipeline.project}.{pipeline.dataset}")
        assert f" lost {removed} of the " in lost.message
    finally:
        pipeline.query(f"INSERT INTO {table} SELECT * FROM {backup}")
        pipeline.query(f"DROP TABLE {backup}")
    assert _failing(run_checks(running_pipeline.settings(), ["bigquery"])) == []


def test_a_stopped_api_fails_only_the_source_api_check(running_pipeline: RunningPipeline) -> None:
    with running_pipeline.stopped("api", "source_api"):
        results = run_checks(running_pipeline.settings())
        failing = _failing(results)
        assert [(r.component, r.check) for r in failing] == [("source_api", "ready")], _table(
            results
        )
        assert failing[0].message.startswith("source API not ready: ")


def test_a_stopped_producer_fails_only_the_producer_check_and_olist_health_exits_2(
    running_pipeline: RunningPipeline,
) -> None:
    with running_pipeline.stopped("producer", "producer"):
        results = run_checks(running_pipeline.settings())
        failing = _failing(results)
        assert [(r.component, r.check) for r in failing] == [("producer", "lag")], _table(results)
        assert failing[0].message.startswith("producer metrics unreachable: ")

        command = [sys.executable, "-m", "olist_cli", "health", "--json"]
        env = {**running_pipeline.pipeline.env, **running_pipeline.health_env}
        answer = subprocess.run(command, env=env, capture_output=True, timeout=300)
        assert answer.returncode == 2, answer.stderr.decode()
        document = json.loads(answer.stdout)
        assert document["status"] == "fail"
        assert [c["component"] for c in document["checks"] if c["status"] == "fail"] == ["producer"]


def test_a_stopped_streaming_job_fails_only_the_streaming_check(
    running_pipeline: RunningPipeline,
) -> None:
    with running_pipeline.stopped("stream", "streaming"):
        results = run_checks(running_pipeline.settings())
        failing = _failing(results)
        assert [(r.component, r.check) for r in failing] == [("streaming", "status")], _table(
            results
        )
        assert failing[0].message.startswith("streaming job unreachable: ")
        # What needs the job's /status says so instead of guessing.
        warned = {(r.component, r.check) for r in results if r.status is Status.WARN}
        assert warned == {("bigquery", "rows_last_hour"), ("storage", "lake_rows_last_hour")}


def test_olist_health_prints_a_table_and_exits_0_on_a_running_pipeline(
    running_pipeline: RunningPipeline,
) -> None:
    command = [sys.executable, "-m", "olist_cli", "health"]
    env = {**running_pipeline.pipeline.env, **running_pipeline.health_env}
    answer = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    lines = answer.stdout.splitlines()
    assert lines[0].split() == ["component", "check", "status", "value", "threshold", "message"]
    assert lines[-1] == "overall: ok"
    assert {line.split()[0] for line in lines[1:-1]} == set(COMPONENTS)
