"""The whole pipeline on one machine: its servers, its environment and its ``olist`` processes.

``olist local-run``, the end-to-end tests (``tests/pipeline/``) and ``bench.stream`` all run
the pipeline through :class:`LocalPipeline`. It starts the servers it is asked for (PostgreSQL,
the Pub/Sub emulator, fake-gcs-server, the BigQuery emulator) or uses servers it is handed (the
tests' session fixtures), and gathers in :attr:`LocalPipeline.variables` the environment every
process of the pipeline is configured by: ``OLIST_*``, ``PUBSUB_EMULATOR_HOST``,
``STORAGE_EMULATOR_HOST``. It starts ``olist <command>`` processes as an operator does, each in
a process group of its own with its output in ``<work_dir>/logs/<name>.log``, and
:meth:`LocalPipeline.close` ends every process and stops every server it started (servers it
was handed keep running).

Example::

    with LocalPipeline(work_dir) as pipeline:
        pipeline.start_postgres()
        pipeline.start_emulators()
        pipeline.run("setup", "setup")
        stream = pipeline.start("stream", "stream", **pipeline.stream_env())
        ...
        rows, distinct = pipeline.count_loaded()

Nothing here runs in production; Kubernetes starts the same commands with the same variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from harness.processes import (
    free_port,
    kill_process_group,
    start_process_group,
    wait_for_port,
)

if TYPE_CHECKING:
    from google.cloud import bigquery

    from emulators.bigquery import BigQueryEmulator
    from emulators.gcs import FakeGcsServer
    from emulators.postgres import LocalPostgres
    from emulators.pubsub import PubSubEmulator

PROJECT = "olist-local"
"""Google Cloud project id of every local run (the emulators accept any)."""
DEFAULT_BUCKET = "olist-lake"
DEFAULT_DATASET = "olist"
SERVERS = ("postgres", "pubsub", "gcs", "bigquery")
"""Servers :meth:`LocalPipeline.kill_server` and :meth:`LocalPipeline.restart_server` know."""

_Server = TypeVar("_Server")


class CommandFailed(RuntimeError):
    """An ``olist`` command exited with a non-zero code or ran out of time; holds its log tail."""


class ServerMissing(RuntimeError):
    """A step needs a server the pipeline has neither started nor been handed."""


class LoadedRows(NamedTuple):
    """What a BigQuery table holds: rows, and distinct event ids among them."""

    rows: int
    distinct_event_ids: int


def olist_command(*arguments: str) -> list[str]:
    """``olist <arguments>`` with this interpreter (the virtualenv's, without its PATH)."""
    return [sys.executable, "-m", "olist_cli", *arguments]


def get_json(url: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> Any:
    """``GET url`` and its JSON body (a status endpoint, an API page)."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class LocalPipeline:
    """The pipeline's servers and processes; :meth:`close` stops what it started.

    ``work_dir`` holds the logs (``logs/``) and, by default, the Cloud Storage objects
    (``gcs/``); it must exist or be creatable, and is not deleted. ``namespace`` (e.g.
    ``"e2e-3"``) gives the Pub/Sub topics and subscriptions, the lake bucket and the BigQuery
    dataset names of their own, so pipelines can share servers; without it they are the
    settings' defaults and the bucket ``olist-lake``.
    """

    def __init__(self, work_dir: Path, namespace: str | None = None) -> None:
        self.work_dir = work_dir
        self.logs = work_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.project = PROJECT
        self.bucket = f"olist-{namespace}" if namespace else DEFAULT_BUCKET
        self.dataset = f"olist_{namespace.replace('-', '_')}" if namespace else DEFAULT_DATASET
        self.variables: dict[str, str] = {"OLIST_GCP_PROJECT": self.project}
        """Environment of the pipeline's processes on top of this process's (set more freely)."""
        if "OLIST_STREAM_WARMUP" not in os.environ:
            # On one machine the start-up warm-up only moves seconds from the first batch to
            # before it (docs/operations/streaming.md#the-first-batch-after-a-start); a deployed
            # job keeps it, so a restart's first batch is as fast as the next ones.
            self.variables["OLIST_STREAM_WARMUP"] = "false"
        if namespace:
            self.variables.update(
                OLIST_PUBSUB_TOPIC=f"{namespace}-events",
                OLIST_PUBSUB_SUBSCRIPTION=f"{namespace}-stream",
                OLIST_PUBSUB_DEAD_LETTER_TOPIC=f"{namespace}-dead",
                OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION=f"{namespace}-dead-inspect",
                OLIST_BIGQUERY_DATASET=self.dataset,
            )
        self.postgres: LocalPostgres | None = None
        self.pubsub: PubSubEmulator | None = None
        self.gcs: FakeGcsServer | None = None
        self.bigquery: BigQueryEmulator | None = None
        self._inherited = dict(os.environ)
        self._stack = ExitStack()
        self._bigquery_client: bigquery.Client | None = None

    @property
    def env(self) -> dict[str, str]:
        """The whole environment of a pipeline process: this process's, then :attr:`variables`."""
        return {**self._inherited, **self.variables}

    def close(self) -> None:
        """End every process, then stop every server it started, the last started first."""
        self._stack.close()

    def __enter__(self) -> LocalPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Servers: start_* starts one (stopped by close()), use_* takes one that runs already.

    def start_postgres(
        self, data_dir: Path | None = None, server_options: tuple[str, ...] = ()
    ) -> LocalPostgres:
        """A PostgreSQL server (data in ``data_dir``, or a temporary one): the source database.

        Its commits are durable (:attr:`emulators.postgres.Durability.CRASH_SAFE`): a kill loses
        no acknowledged commit. ``server_options`` are extra ``name=value`` settings.
        """
        from emulators.postgres import LocalPostgres

        self.postgres = self._stack.enter_context(
            LocalPostgres(data_dir=data_dir, server_options=server_options)
        )
        self.use_database(self.postgres.dsn)
        return self.postgres

    def use_database(self, database_url: str) -> None:
        """The source database is ``database_url`` (``OLIST_DATABASE_URL``)."""
        self.variables["OLIST_DATABASE_URL"] = database_url

    def start_pubsub(self) -> PubSubEmulator:
        """The Pub/Sub emulator."""
        from emulators.pubsub import PubSubEmulator

        emulator = self._stack.enter_context(PubSubEmulator())
        self.use_pubsub(emulator)
        return emulator

    def use_pubsub(self, emulator: PubSubEmulator) -> None:
        self.pubsub = emulator
        self.variables["PUBSUB_EMULATOR_HOST"] = emulator.host

    def start_gcs(self, filesystem_root: Path | None = None) -> FakeGcsServer:
        """fake-gcs-server with objects under ``filesystem_root`` (default ``<work_dir>/gcs``)."""
        from emulators.gcs import FakeGcsServer

        root = filesystem_root or self.work_dir / "gcs"
        server = self._stack.enter_context(FakeGcsServer(filesystem_root=root))
        self.use_gcs(server)
        return server

    def use_gcs(self, server: FakeGcsServer) -> None:
        """Use ``server`` for the lake; creates the pipeline's bucket there."""
        self.gcs = server
        server.create_bucket(self.bucket)
        self.variables.update(
            STORAGE_EMULATOR_HOST=server.endpoint,
            OLIST_LAKE_BUCKET=self.bucket,
            # gcsfs (pandas reading the lake) otherwise probes for hierarchical-namespace
            # buckets and waits 60 s per call on an emulator.
            GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false",
        )

    def start_bigquery(
        self, data_dir: Path | None = None, memory_limit: str | None = None
    ) -> BigQueryEmulator:
        """The BigQuery emulator, reading ``gs://`` from the Cloud Storage server's files.

        ``data_dir`` keeps its tables in a DuckDB file there; by default they live in memory.
        ``memory_limit``: DuckDB's (see :class:`emulators.bigquery.BigQueryEmulator`).
        """
        from emulators.bigquery import BigQueryEmulator

        gcs = self._require(self.gcs, "a Cloud Storage server (start_gcs or use_gcs first)")
        emulator = self._stack.enter_context(
            BigQueryEmulator(
                gcs_root=gcs.filesystem_root, data_dir=data_dir, memory_limit=memory_limit
            )
        )
        self.use_bigquery(emulator)
        return emulator

    def use_bigquery(self, emulator: BigQueryEmulator) -> None:
        self.bigquery = emulator
        self.variables["OLIST_BIGQUERY_API_ENDPOINT"] = emulator.endpoint
        self.variables["OLIST_BIGQUERY_STORAGE_API_ENDPOINT"] = emulator.grpc_endpoint

    def start_emulators(self, bigquery_data_dir: Path | None = None) -> None:
        """Pub/Sub, Cloud Storage and BigQuery emulators, in that order."""
        self.start_pubsub()
        self.start_gcs()
        self.start_bigquery(data_dir=bigquery_data_dir)

    def start_api(self, timeout: float = 60.0, port: int | None = None, name: str = "api") -> str:
        """``olist api`` on ``port`` (default: a free one), output in log ``name``; returns its
        URL, also ``OLIST_API_URL``. Give the port of a killed API to restart it where its
        clients look for it.

        Authentication stays on: a random key, given to the producer through the same
        ``OLIST_API_KEY`` (unless the caller set one).
        """
        self.variables.setdefault("OLIST_API_KEY", secrets.token_urlsafe(24))
        port = port or free_port()
        process = self.start(name, "api", OLIST_API_PORT=str(port))
        wait_for_port(port, timeout=timeout, process=process)
        url = f"http://127.0.0.1:{port}"
        self.variables["OLIST_API_URL"] = url
        return url

    # Server crashes: SIGKILL a server, then start it again on the same port and data.

    def kill_server(self, name: str) -> None:
        """SIGKILL server ``name`` (one of :data:`SERVERS`) and every process of it, as an
        out-of-memory kill or a lost node would: nothing is flushed or shut down cleanly."""
        from harness.postgres_crash import kill_postgres

        if name == "postgres":
            postgres = self._require(self.postgres, "PostgreSQL (start_postgres)")
            assert postgres.data_dir is not None
            kill_postgres(postgres.data_dir)
            return
        server = self._started_emulator(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.stop()  # reaps the killed process; keeps the data of a server started with a dir

    def restart_server(self, name: str) -> None:
        """Start server ``name`` again on the port and with the data it had.

        PostgreSQL, fake-gcs-server and the BigQuery emulator (when started with a
        ``data_dir``) find their data again; the Pub/Sub emulator keeps nothing (it has no
        persistence at all), so its topics, subscriptions and unacknowledged messages are gone:
        run ``olist setup`` and replay from the producer's side afterwards.
        """
        from emulators.bigquery import BigQueryEmulator
        from emulators.gcs import FakeGcsServer
        from emulators.postgres import LocalPostgres
        from emulators.pubsub import PubSubEmulator

        if name == "postgres":
            old = self._require(self.postgres, "PostgreSQL (start_postgres)")
            self.postgres = self._stack.enter_context(
                LocalPostgres(
                    data_dir=old.data_dir,
                    port=old.port,
                    server_options=old.server_options,
                    durability=old.durability,
                )
            )
        elif name == "pubsub":
            pubsub = self._require(self.pubsub, "the Pub/Sub emulator")
            self.pubsub = self._stack.enter_context(PubSubEmulator(port=pubsub.port))
        elif name == "gcs":
            gcs = self._require(self.gcs, "a Cloud Storage server")
            self.gcs = self._stack.enter_context(
                FakeGcsServer(port=gcs.port, filesystem_root=gcs.filesystem_root)
            )
        elif name == "bigquery":
            bigquery = self._require(self.bigquery, "the BigQuery emulator")
            if bigquery.data_dir is None:
                raise ServerMissing(
                    "the BigQuery emulator keeps its tables in memory: start_bigquery(data_dir=...)"
                    " to restart it with its tables"
                )
            self.bigquery = self._stack.enter_context(
                BigQueryEmulator(
                    gcs_root=bigquery.gcs_root,
                    rest_port=bigquery.rest_port,
                    grpc_port=bigquery.grpc_port,
                    data_dir=bigquery.data_dir,
                )
            )
        else:
            raise ValueError(f"no server {name!r}: expected one of {', '.join(SERVERS)}")

    def _started_emulator(self, name: str) -> PubSubEmulator | FakeGcsServer | BigQueryEmulator:
        servers: dict[str, PubSubEmulator | FakeGcsServer | BigQueryEmulator | None] = {
            "pubsub": self.pubsub,
            "gcs": self.gcs,
            "bigquery": self.bigquery,
        }
        if name not in servers:
            raise ValueError(f"no server {name!r}: expected one of {', '.join(SERVERS)}")
        server = servers[name]
        if server is None:
            raise ServerMissing(f"this step needs server {name}; the pipeline has none")
        return server

    # Processes: every one is `olist <arguments>` with env + the keyword variables.

    def start(self, name: str, *arguments: str, **env: str) -> subprocess.Popen[bytes]:
        """Start ``olist <arguments>`` in its own process group, output in log ``name``.

        ``env`` adds variables for this process only. :meth:`close` kills the group.
        """
        process = start_process_group(
            olist_command(*arguments), self.log_path(name), env={**self.env, **env}
        )
        self._stack.callback(kill_process_group, process)
        return process

    def run(
        self,
        name: str,
        *arguments: str,
        timeout: float | None = 300.0,
        check: bool = True,
        terminal: bool = False,
        **env: str,
    ) -> int:
        """Run ``olist <arguments>`` to its end; returns its exit code.

        Output goes to log ``name``, or with ``terminal`` to this process's stdout and stderr
        (what ``olist local-run`` shows), in this process's group, so Ctrl-C reaches it too.
        ``check`` raises :class:`CommandFailed` on a non-zero exit; after ``timeout`` seconds
        (``None``: no limit) the command is killed and :class:`CommandFailed` raised.
        """
        command = olist_command(*arguments)
        environment = {**self.env, **env}
        if terminal:
            try:
                code = subprocess.run(command, env=environment, timeout=timeout).returncode
            except subprocess.TimeoutExpired as error:
                raise CommandFailed(f"olist {' '.join(arguments)} ran over {timeout} s") from error
            if check and code != 0:
                raise CommandFailed(f"olist {' '.join(arguments)} exited with code {code}")
            return code
        process = start_process_group(command, self.log_path(name), env=environment)
        self._stack.callback(kill_process_group, process)  # if this wait is interrupted
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            kill_process_group(process)
            raise CommandFailed(
                f"olist {' '.join(arguments)} ran over {timeout} s:\n{self.log(name)}"
            ) from error
        if check and code != 0:
            raise CommandFailed(f"olist {' '.join(arguments)} exited {code}:\n{self.log(name)}")
        return code

    @staticmethod
    def terminate(process: subprocess.Popen[bytes], timeout: float = 120.0) -> int:
        """SIGTERM the process alone, as Kubernetes stops a pod's PID 1; returns its exit code.

        The process stops its children itself (the streaming job its JVM).
        """
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    @staticmethod
    def crash(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the whole process group (a JVM included): nothing is flushed or saved."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log_path(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def log(self, name: str, characters: int = 6000) -> str:
        """The last ``characters`` of log ``name``."""
        return self.log_path(name).read_text(errors="replace")[-characters:]

    def stream_env(self, checkpoint: str = "checkpoint", **extra: str) -> dict[str, str]:
        """Variables of one ``olist stream``: checkpoint in ``<work_dir>/<checkpoint>`` and its
        status and metrics server on a free port (``OLIST_METRICS_PORT``), plus ``extra``."""
        return {
            "OLIST_CHECKPOINT_DIR": str(self.work_dir / checkpoint),
            "OLIST_METRICS_PORT": str(free_port()),
            **extra,
        }

    @staticmethod
    def stream_status(port: int | str, timeout: float = 10.0) -> dict[str, Any]:
        """``GET /status`` of the streaming job whose metrics server listens on ``port``."""
        status: dict[str, Any] = get_json(f"http://127.0.0.1:{port}/status", timeout=timeout)
        return status

    # What the pipeline wrote.

    def bigquery_client(self) -> bigquery.Client:
        """One client of the BigQuery emulator for this pipeline (closed by :meth:`close`)."""
        if self._bigquery_client is None:
            from emulators.bigquery import bigquery_client

            emulator = self._require(self.bigquery, "the BigQuery emulator")
            self._bigquery_client = bigquery_client(emulator.endpoint, self.project)
            self._stack.callback(self._bigquery_client.close)
        return self._bigquery_client

    def table(self, name: str = "order_events") -> str:
        """Table ``name`` of the pipeline's dataset, quoted for SQL: ```project.dataset.name```."""
        return f"`{self.project}.{self.dataset}.{name}`"

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a BigQuery query, as dicts."""
        return [dict(row.items()) for row in self.bigquery_client().query(sql).result()]

    def count_loaded(self, name: str = "order_events") -> LoadedRows:
        """Rows of table ``name`` and their distinct event ids; zeros until the table exists
        (``olist setup`` creates it)."""
        from google.api_core.exceptions import NotFound

        try:
            (row,) = self.query(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM {self.table(name)}"
            )
        except NotFound:
            return LoadedRows(0, 0)
        return LoadedRows(int(row["n"]), int(row["d"]))

    def lake_rows(self, prefix: str = "order_events/") -> list[dict[str, Any]]:
        """Every row of the Parquet objects under ``prefix`` in the lake bucket."""
        import io

        import pyarrow.parquet as pq

        client = self._require(self.gcs, "a Cloud Storage server").storage_client()
        rows: list[dict[str, Any]] = []
        for blob in client.list_blobs(self.bucket, prefix=prefix):
            if blob.name.endswith(".parquet"):
                rows += pq.read_table(io.BytesIO(blob.download_as_bytes())).to_pylist()
        return rows

    @staticmethod
    def _require(server: _Server | None, what: str) -> _Server:
        if server is None:
            raise ServerMissing(f"this step needs {what}; the pipeline has none")
        return server
