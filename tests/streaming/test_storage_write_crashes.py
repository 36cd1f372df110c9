"""``kill -9`` of the streaming job with the Storage Write method, then restarts: exactly once.

The job runs as ``olist stream`` would (``tests.streaming.crashing_stream``) against the
session's Pub/Sub emulator, fake-gcs-server and bqemulator (its Storage Write API over gRPC),
and SIGKILLs its whole process group, JVM included, at a precise point of its first batch:
between the tasks' appends and the commit, between the commit and the merge, and between the
merge and Spark's checkpoint commit. The three kills follow each other on one checkpoint: each
restart replays the batch (its log says how far the earlier attempts got) up to the next kill
point, and a plain ``olist stream`` finally commits it: every event is in ``order_events``
once. One pipeline and four JVM starts instead of three pipelines and six.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from bench.stream import events as distinct_events
from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from emulators.pubsub import PubSubEmulator
from harness.pipeline import LocalPipeline
from harness.processes import ProcessExited, free_port, start_process_group, wait_until
from schemas.envelope import encode_events

EVENTS = 300
EVENTS_PER_MESSAGE = 100
CONNECT_BACK_FAILURE = "Python worker failed to connect back"
"""PySpark's fixed 10 s wait for the source's planner process, missed on an overloaded machine
before the query read anything (bench.stream starts the query again for the same reason)."""
STARTS = 3
PHASE_SECONDS = 600
"""One start of the job up to its crash point, or one restart up to the replayed batch: a fresh
JVM took 7.5 min to reach its first batch at a load average of 34 on this 2-core machine."""
_namespaces = itertools.count(1)

REPLAY_LOG_LINE = {
    # Nothing was committed: the replay's own streams are.
    "before_commit": "bigquery storage write committed batch_id={batch} ",
    # The staging table holds the first attempt's rows: the replay commits nothing.
    "after_commit": (
        "bigquery storage write already committed, committing nothing batch_id={batch} "
    ),
    # The merge job succeeded: the replay appends nothing at all.
    "before_checkpoint": "bigquery batch already merged, skipping batch {batch} ",
}


@pytest.fixture
def storage_write_pipeline(
    tmp_path: Path,
    pubsub_emulator: PubSubEmulator,
    gcs_server: FakeGcsServer,
    bigquery_emulator: BigQueryEmulator,
) -> LocalPipeline:
    pipeline = LocalPipeline(tmp_path, namespace=f"storage-write-{next(_namespaces)}")
    pipeline.use_pubsub(pubsub_emulator)
    pipeline.use_gcs(gcs_server)
    pipeline.use_bigquery(bigquery_emulator)
    pipeline.variables.update(
        OLIST_TRIGGER_INTERVAL="2 seconds", OLIST_BIGQUERY_WRITE_METHOD="storage_write"
    )
    pipeline.run("setup", "setup")
    return pipeline


def _publish(pipeline: LocalPipeline) -> None:
    publisher = pubsub_v1.PublisherClient()
    topic = f"projects/{pipeline.project}/topics/{pipeline.variables['OLIST_PUBSUB_TOPIC']}"
    batch = list(distinct_events(EVENTS, days=3))
    futures = []
    for first in range(0, EVENTS, EVENTS_PER_MESSAGE):
        message = encode_events(
            batch[first : first + EVENTS_PER_MESSAGE], first + 1, first + EVENTS_PER_MESSAGE
        )
        futures.append(publisher.publish(topic, message.data, **message.attributes))
    for future in futures:
        future.result(timeout=60)


def _crash_at(pipeline: LocalPipeline, stream_env: dict[str, str], point: str) -> int:
    """Runs the crashing job with a kill at ``point``; returns the batch id it was killed in."""
    log = f"stream-crash-{point}"
    for _ in range(STARTS):
        crashing = start_process_group(
            [sys.executable, "-m", "tests.streaming.crashing_stream"],
            pipeline.log_path(log),
            env={**pipeline.env, **stream_env, "OLIST_METRICS_PORT": str(free_port()),
                 "STORAGE_WRITE_CRASH_AT": point},
        )  # fmt: skip
        code = crashing.wait(timeout=PHASE_SECONDS)
        if code == -9 or CONNECT_BACK_FAILURE not in pipeline.log(log):
            break
    assert code == -9, pipeline.log(log)
    crashed = re.search(rf"crash point reached point={point} batch_id=(\d+)", pipeline.log(log))
    assert crashed is not None, pipeline.log(log)
    return int(crashed.group(1))


@pytest.mark.timeout((len(REPLAY_LOG_LINE) + 1) * STARTS * PHASE_SECONDS)  # bounds every start
def test_a_kill_at_each_point_of_a_storage_write_batch_then_a_restart_loads_each_event_once(
    storage_write_pipeline: LocalPipeline,
) -> None:
    pipeline = storage_write_pipeline
    with pipeline:
        _publish(pipeline)
        stream_env = pipeline.stream_env()
        checkpoint = Path(stream_env["OLIST_CHECKPOINT_DIR"])
        points = list(REPLAY_LOG_LINE)
        batch = _crash_at(pipeline, stream_env, points[0])
        for earlier, point in itertools.pairwise(points):
            # The restart replays the batch killed at `earlier`, then is killed at `point`.
            assert _crash_at(pipeline, stream_env, point) == batch
            restart_log = pipeline.log_path(f"stream-crash-{point}").read_text()
            assert REPLAY_LOG_LINE[earlier].format(batch=batch) in restart_log
            assert not (checkpoint / "commits" / str(batch)).exists()  # Spark never committed it
            loaded_before_restart = pipeline.count_loaded()
            if point == "before_checkpoint":
                assert loaded_before_restart.rows == loaded_before_restart.distinct_event_ids > 0
            else:
                assert loaded_before_restart == (0, 0)

        def replayed_and_all_loaded() -> bool:
            committed = (checkpoint / "commits" / str(batch)).exists()
            return committed and pipeline.count_loaded().rows >= EVENTS

        for _ in range(STARTS):
            stream_env["OLIST_METRICS_PORT"] = str(free_port())
            restarted = pipeline.start("stream-restarted", "stream", **stream_env)
            try:
                wait_until(replayed_and_all_loaded, PHASE_SECONDS, "the replayed batch", restarted)
                break
            except ProcessExited:
                if CONNECT_BACK_FAILURE not in pipeline.log("stream-restarted"):
                    raise
        assert pipeline.terminate(restarted) == 0, pipeline.log("stream-restarted")

        restart_log = pipeline.log_path("stream-restarted").read_text()
        assert REPLAY_LOG_LINE[points[-1]].format(batch=batch) in restart_log
        assert pipeline.count_loaded() == (EVENTS, EVENTS)
        current_table = pipeline.table("order_items_current")
        (current,) = pipeline.query(f"SELECT COUNT(*) AS n FROM {current_table}")
        assert current["n"] == EVENTS
        tables = pipeline.bigquery_client().list_tables(pipeline.dataset)
        assert not [table.table_id for table in tables if "__stage_" in table.table_id]
        # The lake is written as with loads: each event once, whatever attempt wrote it.
        lake_event_ids = [row["event_id"] for row in pipeline.lake_rows()]
        assert len(lake_event_ids) == len(set(lake_event_ids)) == EVENTS
