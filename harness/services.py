"""The pipeline's local servers as background processes: ``olist services up|down|status|env``.

PostgreSQL, the Pub/Sub emulator, fake-gcs-server and bqemulator, started by the same classes
the local run and the tests use (:mod:`emulators`), but left running after the command exits.
Everything lives under one folder (default ``.local/services``, git-ignored):

```
services.json       what runs: process ids, ports (reused by the next `up`)
postgres/           the database files and server.log (kept across down/up)
gcs/                the Cloud Storage objects, one folder per bucket (kept)
bigquery/           bqemulator's DuckDB file, its private HOME with the offline DuckDB
                    extensions, bqemulator.log (kept)
pubsub/             pubsub-emulator.log (the emulator keeps topics and messages in memory:
                    after down/up run `olist setup` again)
bq-access-token     a dummy token for the `bq` CLI (CLOUDSDK_AUTH_ACCESS_TOKEN_FILE)
```

:meth:`LocalServices.exports` are the ``export`` lines a shell needs to reach them (the same
variables :class:`harness.pipeline.LocalPipeline` gives its processes), plus ``SPARK_HOME`` and
``PYSPARK_PYTHON`` so ``.venv/bin/spark-submit`` works without an activated virtualenv.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shlex
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_DIRECTORY = Path(".local/services")
PROJECT = "olist-local"
SERVICES = ("postgres", "pubsub", "gcs", "bigquery")
STOP_GRACE_SECONDS = 30.0


class ServicesError(RuntimeError):
    """A service did not start or stop; the message names it and its log."""


@dataclass(frozen=True)
class ServiceState:
    """One running service as ``services.json`` records it."""

    name: str
    pid: int
    port: int
    log: str
    extra_port: int = 0

    def running(self) -> bool:
        """The process exists and its port accepts connections."""
        return _alive(self.pid) and _listening(self.port)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # reap it if it is our child (tests)
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    return port > 0 and not _listening(port)


class LocalServices:
    """The services under ``directory`` (made absolute: every path it logs is)."""

    def __init__(self, directory: Path = DEFAULT_DIRECTORY) -> None:
        self.directory = directory.resolve()
        self.state_path = self.directory / "services.json"
        self.token_path = self.directory / "bq-access-token"

    # State

    def states(self) -> dict[str, ServiceState]:
        """What ``services.json`` records (running or not); empty before the first ``up``."""
        if not self.state_path.exists():
            return {}
        recorded: dict[str, dict[str, Any]] = json.loads(self.state_path.read_text())
        return {name: ServiceState(name=name, **fields) for name, fields in recorded.items()}

    def _save(self, states: dict[str, ServiceState]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        recorded = {
            name: {"pid": s.pid, "port": s.port, "log": s.log, "extra_port": s.extra_port}
            for name, s in states.items()
        }
        self.state_path.write_text(json.dumps(recorded, indent=2) + "\n")

    # Commands

    def up(self) -> dict[str, ServiceState]:
        """Start every service that is not running (on its previous port when free)."""
        states = self.states()
        for name in SERVICES:
            previous = states.get(name)
            if previous is not None and previous.running():
                log.info("service running name=%s pid=%s port=%s", name, previous.pid,
                         previous.port)  # fmt: skip
                continue
            states[name] = self._start(name, previous, states)
            self._save(states)
            log.info("service started name=%s pid=%s port=%s log=%s", name, states[name].pid,
                     states[name].port, states[name].log)  # fmt: skip
        self.token_path.write_text("local-emulators-accept-any-token\n")
        return states

    def down(self) -> list[str]:
        """Stop every recorded service, the last started first; returns the names stopped."""
        states = self.states()
        stopped = []
        for name in reversed(SERVICES):
            state = states.get(name)
            if state is None:
                continue
            if name == "postgres":
                from emulators.postgres import LocalPostgres

                LocalPostgres(data_dir=self.directory / "postgres").stop()
                # pg_ctl stop runs as the server's user, who may have lost the way into the
                # folder (a parent made private since): SIGINT is PostgreSQL's fast shutdown.
                _stop_process_group(state.pid, signal.SIGINT)
            else:
                _stop_process_group(state.pid)
            stopped.append(name)
            log.info("service stopped name=%s pid=%s", name, state.pid)
        if self.state_path.exists():
            self.state_path.unlink()
        return stopped

    def exports(self, states: dict[str, ServiceState] | None = None) -> list[str]:
        """``export NAME=value`` lines for a shell: endpoints, project, Spark's interpreter."""
        states = self.states() if states is None else states
        missing = [name for name in SERVICES if name not in states]
        if missing:
            raise ServicesError(
                f"no state for {', '.join(missing)} in {self.state_path}: run `olist services up`"
            )
        variables = {
            "OLIST_DATABASE_URL": f"postgresql://olist@127.0.0.1:{states['postgres'].port}/olist",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{states['pubsub'].port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{states['gcs'].port}",
            # gcsfs (pandas reading the lake) otherwise waits 60 s per call on an emulator.
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "OLIST_BIGQUERY_API_ENDPOINT": f"http://127.0.0.1:{states['bigquery'].port}",
            "OLIST_GCP_PROJECT": PROJECT,
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(self.token_path),
            "SPARK_HOME": str(_pyspark_home()),
            "PYSPARK_PYTHON": sys.executable,
        }
        return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]

    # Starting one service

    def _start(
        self, name: str, previous: ServiceState | None, states: dict[str, ServiceState]
    ) -> ServiceState:
        port = previous.port if previous is not None and _port_free(previous.port) else 0
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if name == "postgres":
                return self._start_postgres(port)
            if name == "pubsub":
                from emulators.pubsub import PubSubEmulator

                pubsub = PubSubEmulator(port=port, log_dir=folder).start()
                return ServiceState(name, pubsub.pid, pubsub.port, str(pubsub.log_path))
            if name == "gcs":
                from emulators.gcs import FakeGcsServer

                gcs = FakeGcsServer(port=port, filesystem_root=folder / "objects", log_dir=folder)
                gcs.start()
                return ServiceState(name, gcs.pid, gcs.port, str(gcs.log_path))
            from emulators.bigquery import BigQueryEmulator

            grpc_port = previous.extra_port if previous and _port_free(previous.extra_port) else 0
            bigquery = BigQueryEmulator(
                gcs_root=self.directory / "gcs" / "objects",
                rest_port=port,
                grpc_port=grpc_port,
                data_dir=folder / "data",
                state_dir=folder,
            ).start()
            return ServiceState(
                name, bigquery.pid, bigquery.rest_port, str(bigquery.log_path), bigquery.grpc_port
            )
        except (RuntimeError, OSError) as error:
            raise ServicesError(f"{name} did not start: {error}") from error

    def _start_postgres(self, port: int) -> ServiceState:
        from emulators.postgres import LocalPostgres

        data_dir = self.directory / "postgres"
        postgres = LocalPostgres(data_dir=data_dir, port=port).start()
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        return ServiceState("postgres", pid, postgres.port, str(data_dir / "server.log"))


def _pyspark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ServicesError("PySpark is not installed in this interpreter (extra 'stream')")
    return Path(spec.origin).parent


def _stop_process_group(pid: int, first_signal: signal.Signals = signal.SIGTERM) -> None:
    """``first_signal`` to the group ``pid`` leads, SIGKILL after :data:`STOP_GRACE_SECONDS`."""
    try:
        os.killpg(pid, first_signal)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
