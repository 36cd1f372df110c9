"""The streaming job on a Spark standalone cluster: a Master and two Workers (1 core each, own
work directories) started from the installed pyspark, executors in JVMs of their own, staging
on fake-gcs-server (``gs://``), the checkpoint on this host's disk (every Worker runs here:
``OLIST_SHARED_FILESYSTEM=true``). Faults are the hard kind: ``SIGKILL`` of a Worker's process
group (the Worker and its executor) and of the driver's (its JVM included).

Which executor ran which task comes from Spark's event log (``spark.eventLog.dir``), the same
record the history server reads; an executor's Worker from its log URL (the Worker's UI port).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import pubsub_v1

from harness.pipeline import LocalPipeline
from harness.processes import wait_until
from harness.spark_cluster import StandaloneCluster
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT as SAMPLE
from schemas.order_event import event_id_for

pytestmark = pytest.mark.slow

EVENTS_PER_MESSAGE = 20


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[StandaloneCluster]:
    with StandaloneCluster(tmp_path / "spark", workers=2, cores=1) as result:
        yield result


def publish(pipeline: LocalPipeline, count: int) -> None:
    """``count`` valid events with distinct ids, ``EVENTS_PER_MESSAGE`` per message."""
    topic = f"projects/{pipeline.project}/topics/{pipeline.env['OLIST_PUBSUB_TOPIC']}"
    publisher = pubsub_v1.PublisherClient()
    futures = []
    for first in range(1, count + 1, EVENTS_PER_MESSAGE):
        items = range(first, min(first + EVENTS_PER_MESSAGE, count + 1))
        events = [
            dict(SAMPLE, order_item_id=item, source_sequence=item,
                 event_id=event_id_for(SAMPLE["order_id"], item))
            for item in items
        ]  # fmt: skip
        message = encode_events([json.dumps(e).encode() for e in events], items[0], items[-1])
        futures.append(publisher.publish(topic, message.data, **message.attributes))
    for future in futures:
        future.result()
    publisher.stop()


def cluster_env(
    pipeline: LocalPipeline, cluster: StandaloneCluster, event_log: Path, **extra: str
) -> dict[str, str]:
    event_log.mkdir(parents=True, exist_ok=True)
    return pipeline.stream_env(
        OLIST_SPARK_MASTER=cluster.master_url,
        OLIST_STAGING_LOCATION=f"gs://{pipeline.bucket}/pubsub-staging",
        OLIST_SHARED_FILESYSTEM="true",
        OLIST_READ_PARTITIONS="4",
        SPARK_LOCAL_IP="127.0.0.1",
        # Extra Spark configuration of the job's own session (pyspark reads this variable).
        PYSPARK_SUBMIT_ARGS=(
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{event_log} "
            "--conf spark.eventLog.compress=false "
            "--conf spark.executor.memory=1g --conf spark.task.maxFailures=4 pyspark-shell"
        ),
        **extra,
    )


def spark_events(event_log: Path) -> Iterator[dict[str, Any]]:
    """The events of every application's log (Spark 4: a directory of files per application);
    a driver killed mid-write may leave a last line cut short, which is skipped."""
    for path in sorted(path for path in event_log.rglob("events_*") if path.is_file()):
        for line in path.read_text().splitlines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def tasks_by_batch(
    event_log: Path, cluster: StandaloneCluster
) -> tuple[dict[int, set[int]], dict[int, list[str]]]:
    """Streaming batch id -> the Workers (indexes) whose executors ran a successful task of it,
    and -> the reasons of its failed task attempts. Batch ids restart per application."""
    stage_batch: dict[tuple[str, int], int] = {}
    executor_worker: dict[tuple[str, str], int] = {}
    workers: dict[int, set[int]] = defaultdict(set)
    failures: dict[int, list[str]] = defaultdict(list)
    application = ""
    for event in spark_events(event_log):
        kind = event["Event"]
        if kind == "SparkListenerApplicationStart":
            application = event.get("App ID", "")
        elif kind == "SparkListenerExecutorAdded":
            urls = event["Executor Info"].get("Log Urls", {})
            worker = cluster.worker_of_log_url(urls.get("stdout", ""))
            if worker is not None:
                executor_worker[application, event["Executor ID"]] = worker
        elif kind == "SparkListenerJobStart":
            batch = (event.get("Properties") or {}).get("streaming.sql.batchId")
            if batch is not None:
                for stage in event["Stage IDs"]:
                    stage_batch[application, stage] = int(batch)
        elif kind == "SparkListenerTaskEnd":
            batch = stage_batch.get((application, event["Stage ID"]))
            if batch is None:
                continue
            reason = event["Task End Reason"]["Reason"]
            executor = (application, event["Task Info"]["Executor ID"])
            if reason != "Success":
                failures[batch].append(reason)
            elif executor in executor_worker:
                workers[batch].add(executor_worker[executor])
    return dict(workers), dict(failures)


def run_to_the_end(pipeline: LocalPipeline, name: str, env: dict[str, str]) -> None:
    """``olist stream --available-now`` until it exits; it must exit 0."""
    stream = pipeline.start(name, "stream", "--available-now", **env)
    assert stream.wait(timeout=900) == 0, pipeline.log(name)


def assert_exactly_once(pipeline: LocalPipeline, count: int) -> None:
    loaded = pipeline.count_loaded()
    assert (loaded.rows, loaded.distinct_event_ids) == (count, count)
    lake_ids = [row["event_id"] for row in pipeline.lake_rows()]
    assert len(lake_ids) == len(set(lake_ids)) == count


def test_a_batch_uses_both_workers_and_a_killed_worker_and_driver_still_load_every_event_once(
    pipeline: LocalPipeline, cluster: StandaloneCluster, tmp_path: Path
) -> None:
    # One run, one cluster (starting them is most of the cost): batch 0 runs on both Workers
    # with no failure, batch 1 loses a Worker, batch 2 its driver.
    publish(pipeline, 600)
    event_log = tmp_path / "event-log"
    env = cluster_env(pipeline, cluster, event_log, OLIST_MAX_RECORDS_PER_TRIGGER="200")
    checkpoint = Path(env["OLIST_CHECKPOINT_DIR"])
    assert pipeline.gcs is not None
    lake = pipeline.gcs.bucket_path(pipeline.bucket) / "order_events"

    def first_object_of(batch: int) -> bool:
        return any(f"batch={batch:012d}-" in path.name for path in lake.rglob("*.parquet"))

    # A Worker (and its executor) dies while batch 1 runs on both: its tasks are retried on
    # the other Worker (their shuffle input read again from the staged objects).
    stream = pipeline.start("stream-1", "stream", "--available-now", **env)
    wait_until(lambda: first_object_of(1), 600, "batch 1's first object", stream, interval=0.05)
    cluster.kill_worker(0)
    assert not (checkpoint / "commits" / "1").exists(), "the kill came after batch 1's commit"

    # The driver dies (JVM included) in the middle of the next batch; the restart replays it.
    wait_until(lambda: first_object_of(2), 900, "batch 2's first object", stream, interval=0.05)
    pipeline.crash(stream)
    assert not (checkpoint / "commits" / "2").exists(), "the kill came after batch 2's commit"
    assert (checkpoint / "commits" / "1").exists()

    run_to_the_end(pipeline, "stream-2", env)
    assert "batch done batch_id=2 valid=" in pipeline.log_path("stream-2").read_text()
    assert_exactly_once(pipeline, 600)
    workers, failures = tasks_by_batch(event_log, cluster)
    # Batch 0, before any kill, ran tasks on both Workers and none failed.
    assert workers[0] == {0, 1}, workers
    assert 0 not in failures, failures
    # Batch 1's tasks on the killed Worker were lost and ran again on the other one.
    assert "ExecutorLostFailure" in failures[1], failures
    assert 1 in workers[1], workers
    # Staged batches were acknowledged and deleted from the bucket, the replayed one too.
    client = pipeline.gcs.storage_client()
    staged = [b.name for b in client.list_blobs(pipeline.bucket, prefix="pubsub-staging/")]
    assert staged == [], staged
