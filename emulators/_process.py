"""Process helpers shared by the local servers: free ports, waiting for a port, process groups."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


class MissingSystemPackage(RuntimeError):
    """A binary the pipeline needs is not installed; the message names the Debian package."""

    def __init__(self, binary: str, package: str) -> None:
        super().__init__(
            f"'{binary}' was not found: install the system package '{package}' "
            f"(e.g. apt-get install {package}) and try again"
        )
        self.binary = binary
        self.package = package


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Block until ``host:port`` accepts TCP connections; fail early if ``process`` died."""
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


def start_process_group(
    command: list[str], log_path: str | os.PathLike[str], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group, output to ``log_path``."""
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
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
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
