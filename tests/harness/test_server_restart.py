"""LocalPipeline.kill_server / restart_server: SIGKILL a server, start it again on the same port
with the same data. PostgreSQL and fake-gcs-server keep everything, the BigQuery emulator keeps
its tables in its data directory, and the Pub/Sub emulator keeps nothing (it has no
persistence), which is why a chaos run must recreate its resources and replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import pubsub_v1

from harness.pipeline import LocalPipeline, ServerMissing
from harness.postgres_crash import postmaster_pid

pytestmark = pytest.mark.slow


async def _insert_and_count(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE IF NOT EXISTS kept (x int)")
        await connection.execute("INSERT INTO kept VALUES (1)")
        return int(await connection.fetchval("SELECT count(*) FROM kept"))
    finally:
        await connection.close()


def test_a_killed_postgres_comes_back_on_its_port_with_every_committed_row(
    tmp_path: Path,
) -> None:
    with LocalPipeline(tmp_path) as pipeline:
        postgres = pipeline.start_postgres(tmp_path / "postgres")
        port, dsn = postgres.port, postgres.dsn
        assert asyncio.run(_insert_and_count(dsn)) == 1
        killed_pid = postmaster_pid(tmp_path / "postgres")
        pipeline.kill_server("postgres")  # right after the commit: nothing may be lost
        with pytest.raises(OSError):
            asyncio.run(_insert_and_count(dsn))
        pipeline.restart_server("postgres")
        assert pipeline.postgres is not None and pipeline.postgres.port == port
        assert postmaster_pid(tmp_path / "postgres") != killed_pid
        assert asyncio.run(_insert_and_count(dsn)) == 2


def test_killed_emulators_come_back_on_their_ports_and_pubsub_alone_forgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalPipeline(tmp_path) as pipeline:
        pubsub = pipeline.start_pubsub()
        gcs = pipeline.start_gcs(tmp_path / "gcs")
        bigquery = pipeline.start_bigquery(data_dir=tmp_path / "bigquery")
        ports = (pubsub.port, gcs.port, bigquery.rest_port, bigquery.grpc_port)
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
        publisher = pubsub_v1.PublisherClient()
        topic = publisher.create_topic(name="projects/olist-local/topics/kept").name
        gcs.create_bucket("kept")
        gcs.storage_client().bucket("kept").blob("a.txt").upload_from_string(b"object")
        pipeline.bigquery_client().create_dataset("kept")
        pipeline.query("CREATE TABLE `olist-local.kept.t` AS SELECT 1 AS x")

        for name in ("pubsub", "gcs", "bigquery"):
            pipeline.kill_server(name)
            pipeline.restart_server(name)

        assert pipeline.pubsub is not None and pipeline.gcs is not None
        assert pipeline.bigquery is not None
        assert ports == (
            pipeline.pubsub.port, pipeline.gcs.port,
            pipeline.bigquery.rest_port, pipeline.bigquery.grpc_port,
        )  # fmt: skip
        blob = pipeline.gcs.storage_client().bucket("kept").blob("a.txt")
        assert blob.download_as_bytes() == b"object"
        assert pipeline.query("SELECT x FROM `olist-local.kept.t`") == [{"x": 1}]
        with pytest.raises(NotFound):
            publisher.get_topic(topic=topic)


def test_restarting_a_bigquery_emulator_without_a_data_dir_is_refused(tmp_path: Path) -> None:
    with LocalPipeline(tmp_path) as pipeline:
        pipeline.start_gcs(tmp_path / "gcs")
        pipeline.start_bigquery()
        with pytest.raises(ServerMissing, match="keeps its tables in memory"):
            pipeline.restart_server("bigquery")
