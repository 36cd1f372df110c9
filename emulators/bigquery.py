"""bqemulator, a DuckDB-backed BigQuery stand-in (REST + Storage gRPC), as a child process group.

``bqemulator==1.4.0`` (extra ``emulators``) loads DuckDB's ``spatial`` extension at boot and
fails without it; it also loads ``avro`` when it can. Offline, DuckDB finds extensions only in
``$HOME/.duckdb/extensions/v<duckdb version>/<platform>/``, so each emulator gets a private
HOME whose extension folder holds the files shipped by the PyPI wheels
``duckdb-extension-spatial`` and ``duckdb-extension-avro`` (hard links when the filesystem
allows, copies otherwise). Nothing is downloaded.

Load jobs resolve ``gs://BUCKET/PATH`` to ``$BQEMU_GCS_LOCAL_ROOT/BUCKET/PATH``; pointing that
at a :class:`emulators.gcs.FakeGcsServer` filesystem root makes a load job read exactly the
objects uploaded through the Cloud Storage API. What the emulator does and does not do like
the real service is recorded in docs/design/emulators.md.

Clients use the official library with only an endpoint and anonymous credentials
(:func:`bigquery_client`), exactly what the pipeline does from its ``bigquery_api_endpoint``
setting.

Example::

    with FakeGcsServer() as gcs, BigQueryEmulator(gcs_root=gcs.filesystem_root) as bigquery:
        client = bigquery.client()
        client.create_dataset("olist")
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING

from emulators.gcs import EmulatorStartError, MissingPythonPackage
from harness.processes import free_port, kill_process_group, start_process_group, wait_for_port

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "olist-local"
EMULATOR_PACKAGE = "bqemulator"
DUCKDB_PACKAGE = "duckdb"
EXTENSION_PACKAGES = ("duckdb-extension-spatial", "duckdb-extension-avro")
"""PyPI wheels carrying the DuckDB extensions bqemulator loads at boot (same version as duckdb)."""


def bigquery_client(endpoint: str, project: str = DEFAULT_PROJECT) -> bigquery.Client:
    """A ``google.cloud.bigquery.Client`` talking to ``endpoint`` without credentials.

    This is the same call the pipeline makes from its settings (``bigquery_api_endpoint``);
    against the real service one passes no endpoint and real credentials instead.
    """
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def _duckdb_version_and_platform() -> tuple[str, str]:
    try:
        import duckdb
    except ImportError as error:
        raise MissingPythonPackage("the Python module 'duckdb'", DUCKDB_PACKAGE) from error
    row = duckdb.execute("PRAGMA platform").fetchone()
    assert row is not None
    return str(duckdb.__version__), str(row[0])


def extension_files() -> list[Path]:
    """The ``*.duckdb_extension`` files shipped by :data:`EXTENSION_PACKAGES`.

    Raises :class:`MissingPythonPackage` if a wheel is missing or was built for another
    DuckDB version (DuckDB refuses extensions of a different version).
    """
    duckdb_version, _ = _duckdb_version_and_platform()
    found: list[Path] = []
    for package in EXTENSION_PACKAGES:
        try:
            distribution = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError as error:
            raise MissingPythonPackage(
                f"the DuckDB extension wheel '{package}' (bqemulator cannot start offline "
                "without it)",
                f"{package}=={duckdb_version}",
            ) from error
        files = [
            Path(str(distribution.locate_file(entry)))
            for entry in distribution.files or []
            if entry.name.endswith(".duckdb_extension") and f"v{duckdb_version}" in entry.parts
        ]
        if not files:
            raise MissingPythonPackage(
                f"a v{duckdb_version} extension file in '{package}' "
                f"{distribution.version} (installed duckdb is {duckdb_version})",
                f"{package}=={duckdb_version}",
            )
        found.extend(files)
    return found


def prepare_home(home: Path) -> Path:
    """Make ``home`` a HOME whose DuckDB extension folder holds the bundled extensions.

    Returns the extension folder. Files already there are kept (a second call is cheap).
    """
    version, duckdb_platform = _duckdb_version_and_platform()
    target = home / ".duckdb" / "extensions" / f"v{version}" / duckdb_platform
    target.mkdir(parents=True, exist_ok=True)
    for source in extension_files():
        destination = target / source.name
        if destination.exists():
            continue
        try:
            # A hard link costs nothing; the spatial extension alone is ~80 MB.
            os.link(source, destination)
        except OSError:
            import shutil

            shutil.copyfile(source, destination)
    return target


@dataclass
class BigQueryEmulator:
    """bqemulator on free loopback ports, serving project ``project``.

    ``gcs_root`` is the directory ``gs://`` URIs resolve under (give a FakeGcsServer's
    ``filesystem_root``). ``data_dir`` switches to persistent mode (a DuckDB file there that
    survives restarts); by default everything is in memory and lost on ``stop()``.

    Every write (load job, DML) copies the whole table into a time-travel snapshot. With the
    emulator's default retention (7 days) those copies stay in memory: 1M-row batches grow it
    by gigabytes. ``time_travel_retention_days`` defaults to 0 here, so the emulator's
    garbage collector (every 60 s) drops them; ``FOR SYSTEM_TIME AS OF`` then cannot look back.
    """

    project: str = DEFAULT_PROJECT
    gcs_root: Path | None = None
    rest_port: int = 0
    grpc_port: int = 0
    data_dir: Path | None = None
    time_travel_retention_days: int = 0
    memory_limit: str | None = None
    """DuckDB's ``memory_limit`` (``"4GB"``), through :mod:`emulators.bqemulator_main`; by
    default DuckDB's own (80 % of the machine). Give a ``data_dir`` too, so that DuckDB can
    evict the tables' blocks it caches."""
    log_level: str = "warning"
    state_dir: Path | None = None
    """Where the log and the private HOME go and stay (``olist services``); default: a
    temporary folder removed by ``stop()``."""
    _process: Popen[bytes] | None = field(default=None, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """REST base URL, the ``api_endpoint`` of the BigQuery client."""
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_endpoint(self) -> str:
        """``host:port`` of the Storage Read/Write gRPC API (plaintext)."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int:
        """Process id (and process group id) of the running emulator."""
        assert self._process is not None, "start() first"
        return self._process.pid

    @property
    def _folder(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        assert self._workdir is not None, "start() first"
        return Path(self._workdir.name)

    @property
    def log_path(self) -> Path:
        """The emulator's output (kept until ``stop()``, or in ``state_dir`` for good)."""
        return self._folder / "bqemulator.log"

    def start(self, timeout: float = 60.0) -> BigQueryEmulator:
        """Start the emulator and return once ``/readyz`` reports DuckDB and catalog ready."""
        if importlib.util.find_spec("bqemulator") is None:
            raise MissingPythonPackage(
                "the Python module 'bqemulator'", f"{EMULATOR_PACKAGE}==1.4.0"
            )
        if self.state_dir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="olist-bigquery-")
        home = self._folder / "home"
        prepare_home(home)
        self.rest_port = self.rest_port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        # Our entry point only passes DuckDB's memory limit, then runs bqemulator's command.
        module = "bqemulator" if self.memory_limit is None else "emulators.bqemulator_main"
        command = [
            sys.executable, "-m", module, "start",
            "--project", self.project,
            "--rest-host", "127.0.0.1", "--rest-port", str(self.rest_port),
            "--grpc-host", "127.0.0.1", "--grpc-port", str(self.grpc_port),
            "--log-level", self.log_level, "--log-format", "json",
        ]  # fmt: skip
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            command += ["--persistent", "--data-dir", str(self.data_dir)]
        else:
            command += ["--ephemeral"]
        environment = {
            name: value for name, value in os.environ.items() if not name.startswith("BQEMU_")
        }
        environment["HOME"] = str(home)
        environment["BQEMU_TIME_TRAVEL_RETENTION_DAYS"] = str(self.time_travel_retention_days)
        if self.memory_limit is not None:
            from emulators.bqemulator_main import MEMORY_LIMIT_VARIABLE

            environment[MEMORY_LIMIT_VARIABLE] = self.memory_limit
        if self.gcs_root is not None:
            environment["BQEMU_GCS_LOCAL_ROOT"] = str(Path(self.gcs_root).resolve())
        self._process = start_process_group(command, self.log_path, env=environment)
        try:
            wait_for_port(self.rest_port, timeout=timeout, process=self._process)
            self._wait_until_ready(deadline=time.monotonic() + timeout)
        except (RuntimeError, OSError) as error:
            output = self.log_path.read_text(errors="replace")[-3000:]
            self.stop()
            raise EmulatorStartError(
                f"bqemulator did not become ready on port {self.rest_port}: {error}\n{output}"
            ) from error
        log.info(
            "bigquery emulator started endpoint=%s grpc=%s project=%s gcs_root=%s",
            self.endpoint,
            self.grpc_endpoint,
            self.project,
            self.gcs_root,
        )
        return self

    def _wait_until_ready(self, deadline: float) -> None:
        last_answer = "no answer"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"bqemulator exited with code {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/readyz", timeout=5) as response:
                    report = json.loads(response.read())
                    if report.get("status") == "ok":
                        return
                    last_answer = str(report)
            except urllib.error.HTTPError as error:
                last_answer = f"HTTP {error.code}: {error.read()[:500]!r}"
            except urllib.error.URLError as error:
                last_answer = str(error.reason)
            time.sleep(0.1)
        raise TimeoutError(f"/readyz did not report status ok in time (last: {last_answer})")

    def client(self) -> bigquery.Client:
        """An official BigQuery client for this emulator (see :func:`bigquery_client`)."""
        if self._process is None or self._process.poll() is not None:
            raise EmulatorStartError(
                "bqemulator is not running: call start() (or use it as a context manager)"
            )
        return bigquery_client(self.endpoint, self.project)

    def stop(self) -> None:
        """Stop the process group and remove the private HOME and the log."""
        if self._process is not None:
            kill_process_group(self._process)
            self._process = None
            log.info("bigquery emulator stopped endpoint=%s", self.endpoint)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> BigQueryEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = [
    "BigQueryEmulator",
    "bigquery_client",
    "extension_files",
    "prepare_home",
]
