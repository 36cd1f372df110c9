"""A BigQuery job runs once per id even when the client loses a response or a job hangs.

Test doubles stand in for the BigQuery client here: the emulator answers a reused job id by
running the job again (docs/design/emulators.md) and never loses a response or hangs, so it
cannot show either case. The doubles model the service: a job insert whose response is lost
and retried by the client comes back as 409 Conflict for the same id while the first job runs.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest
from google.api_core.exceptions import Conflict, NotFound

from streaming.batch_writer import BatchOutcome
from streaming.bigquery_jobs import BigQueryJobTimeout, JobRunner
from streaming.metrics import StreamStatus


class FakeJob:
    """A job that succeeds, or hangs (its result times out), as the service would run it."""

    def __init__(self, job_id: str, hangs: bool = False) -> None:
        self.job_id = job_id
        self.hangs = hangs
        self.state = "RUNNING"
        self.error_result: dict[str, Any] | None = None
        self.errors: list[dict[str, Any]] | None = None
        self.waited_with: list[float | None] = []

    def result(self, *, timeout: float | None = None) -> FakeJob:
        self.waited_with.append(timeout)
        if self.hangs:
            raise concurrent.futures.TimeoutError()
        self.state = "DONE"
        return self


class FakeClient:
    """Keeps the jobs it created; ``lose_responses`` makes an insert answer 409 as a retry would."""

    def __init__(self, lose_responses: bool = False, hangs: bool = False) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.inserts: list[str] = []
        self.lose_responses = lose_responses
        self.hangs = hangs
        self.timeouts: list[float] = []

    def get_job(self, job_id: str, *, location: str | None = None, timeout: float = 0) -> FakeJob:
        self.timeouts.append(timeout)
        if job_id not in self.jobs:
            raise NotFound(f"job {job_id}")
        return self.jobs[job_id]

    def insert(self, job_id: str) -> FakeJob:
        self.inserts.append(job_id)
        self.jobs[job_id] = FakeJob(job_id, hangs=self.hangs)
        if self.lose_responses:
            # The first request created the job; its response was lost; the client's retry
            # of the insert then answers 409 for the same id.
            raise Conflict(f"Already Exists: Job {job_id}")
        return self.jobs[job_id]


def test_a_lost_insert_response_waits_for_the_same_job_instead_of_loading_again() -> None:
    client = FakeClient(lose_responses=True)
    runner = JobRunner(client, "US", request_timeout_seconds=7, job_timeout_seconds=30)
    outcome = runner.run_once("olist_q_order_events_3", client.insert, "batch 3")
    assert (outcome.job_id, outcome.already_done) == ("olist_q_order_events_3", False)
    assert client.inserts == ["olist_q_order_events_3"]  # no "_r1" while the first job ran
    assert client.jobs["olist_q_order_events_3"].waited_with == [30]
    assert set(client.timeouts) == {7}


def test_a_job_that_hangs_fails_the_batch_and_its_replay_waits_for_the_same_job() -> None:
    client = FakeClient(hangs=True)
    runner = JobRunner(client, "US", request_timeout_seconds=7, job_timeout_seconds=30)
    with pytest.raises(BigQueryJobTimeout, match="olist_q_order_events_4 still running after 30 s"):
        runner.run_once("olist_q_order_events_4", client.insert, "batch 4")
    # The replay finds the job, waits again, and starts nothing new.
    with pytest.raises(BigQueryJobTimeout):
        runner.run_once("olist_q_order_events_4", client.insert, "batch 4")
    assert client.inserts == ["olist_q_order_events_4"]
    # Once the job finishes, the replay moves on without loading again.
    client.jobs["olist_q_order_events_4"].hangs = False
    outcome = runner.run_once("olist_q_order_events_4", client.insert, "batch 4")
    assert (outcome.job_id, outcome.already_done) == ("olist_q_order_events_4", True)
    assert client.inserts == ["olist_q_order_events_4"]


def test_a_batch_running_past_the_threshold_shows_as_stuck_and_not_ready() -> None:
    now = [1000.0]
    status = StreamStatus(batch_stuck_seconds=600, clock=lambda: now[0])
    status.query_started("query", "run")
    status.batch_started(5)
    now[0] += 599
    snapshot = status.snapshot()
    assert snapshot["running_batch"] == {
        "batch_id": 5, "seconds": 599.0, "stuck": False, "stuck_after_seconds": 600
    }  # fmt: skip
    assert (snapshot["healthy"], snapshot["ready"]) == (True, True)
    now[0] += 2
    snapshot = status.snapshot()
    assert snapshot["running_batch"]["stuck"] is True
    assert (snapshot["healthy"], snapshot["ready"]) == (True, False)
    gauge = status.metrics.registry.get_sample_value("olist_stream_running_batch_seconds")
    assert gauge == 601
    status.batch_written(BatchOutcome(5, 10, 0, 1, False, 601.0, duplicate_rows=2, late_rows=3))
    snapshot = status.snapshot()
    assert (snapshot["running_batch"], snapshot["ready"]) == (None, True)
    assert snapshot["totals"]["duplicate_rows_dropped_at_sink"] == 2
    assert snapshot["totals"]["late_rows"] == 3


def test_duplicates_dropped_in_spark_are_counted_from_the_progress() -> None:
    status = StreamStatus()
    status.progress(
        {
            "batchId": 2,
            "numInputRows": 10,
            "stateOperators": [
                {"numRowsDroppedByWatermark": 0, "customMetrics": {"numDroppedDuplicateRows": 4}}
            ],
        }
    )
    totals = status.snapshot()["totals"]
    assert (totals["duplicate_rows_dropped_in_stream"], totals["rows_dropped_by_watermark"]) == (
        4,
        0,
    )
    sample = status.metrics.registry.get_sample_value(
        "olist_stream_duplicate_rows_dropped_in_stream_total"
    )
    assert sample == 4
