"""The official Google Cloud Pub/Sub emulator, started as a child process group.

Binary: ``/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator``
(Debian package ``google-cloud-cli-pubsub-emulator``; needs Java 17). It keeps everything in
memory: a restart loses every topic, subscription and message.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from harness.processes import (
    MissingSystemPackage,
    free_port,
    kill_process_group,
    start_process_group,
    wait_for_port,
)

log = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"


@dataclass
class PubSubEmulator:
    """A Pub/Sub emulator on a free loopback port (``host`` goes in ``PUBSUB_EMULATOR_HOST``)."""

    port: int = 0
    binary: str = field(
        default_factory=lambda: os.environ.get("OLIST_PUBSUB_EMULATOR_BIN", DEFAULT_BINARY)
    )
    log_dir: Path | None = None
    """Where the log goes and stays (``olist services``); default: a temporary folder."""
    _process: Popen[bytes] | None = field(default=None, repr=False)
    _log_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Process id (and process group id) of the running emulator."""
        assert self._process is not None, "start() first"
        return self._process.pid

    @property
    def log_path(self) -> Path:
        if self.log_dir is not None:
            return self.log_dir / "pubsub-emulator.log"
        assert self._log_dir is not None
        return Path(self._log_dir.name) / "pubsub-emulator.log"

    def start(self, timeout: float = 90.0) -> PubSubEmulator:
        if not Path(self.binary).exists():
            raise MissingSystemPackage(self.binary, "google-cloud-cli-pubsub-emulator")
        self.port = self.port or free_port()
        if self.log_dir is None:
            self._log_dir = tempfile.TemporaryDirectory(prefix="olist-pubsub-")
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._process = start_process_group(
            [self.binary, "--host=127.0.0.1", f"--port={self.port}"], self.log_path
        )
        try:
            wait_for_port(self.port, timeout=timeout, process=self._process)
        except (RuntimeError, TimeoutError) as error:
            output = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"Pub/Sub emulator did not start: {error}\n{output}") from error
        log.info("pubsub emulator started host=%s", self.host)
        return self

    def stop(self) -> None:
        if self._process is not None:
            kill_process_group(self._process)
            self._process = None
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    def __enter__(self) -> PubSubEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
