"""Child processes on one machine: free ports, waiting for a port, process groups.

Every server and pipeline process the emulators, the tests, the benchmarks and ``olist
local-run`` start goes through :func:`start_process_group`: the child gets a session (and so a
process group) of its own, its output goes to a log file, and :func:`kill_process_group` ends
it together with everything it started (a JVM under a launcher script, Spark's Python workers).

Example::

    port = free_port()
    process = start_process_group(["python", "-m", "http.server", str(port)], "server.log")
    try:
        wait_for_port(port, timeout=10, process=process)
        ...
    finally:
        kill_process_group(process)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable


class MissingSystemPackage(RuntimeError):
    """A binary the pipeline needs is not installed; the message names the Debian package."""

    def __init__(self, binary: str, package: str) -> None:
        super().__init__(
            f"'{binary}' was not found: install the system package '{package}' "
            f"(e.g. apt-get install {package}) and try again"
        )
        self.binary = binary
        self.package = package


class ProcessExited(RuntimeError):
    """A process ended while something waited for it to get somewhere."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The port is free when the function returns, not reserved: start the server on it soon.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Block until ``host:port`` accepts TCP connections; fail early if ``process`` died.

    Raises :class:`RuntimeError` (the process exited first) or :class:`TimeoutError`.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with code {process.returncode} before listening on {port}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {host}:{port} after {timeout:.0f} s")


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.5,
) -> None:
    """Poll ``condition`` every ``interval`` seconds until it holds.

    Raises :class:`ProcessExited` when ``process`` ends first and :class:`TimeoutError` after
    ``timeout`` seconds; both messages name ``what`` was awaited.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise ProcessExited(f"process exited ({process.returncode}) while waiting for {what}")
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_process_group(
    command: list[str], log_path: str | os.PathLike[str], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own, stdout and stderr appended to ``log_path``.

    ``env`` is the child's whole environment (``None``: this process's). The child's PID is
    also its process group and session id: :func:`kill_process_group` takes it.
    """
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    try:
        return subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    finally:
        log_file.close()


def kill_process_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds.

    Does nothing when the process has already exited (its group may be gone with it).
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass
