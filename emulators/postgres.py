"""A throwaway PostgreSQL server started from the installed binaries (``initdb``, ``pg_ctl``).

Used by the test fixtures, the benchmarks and the local run: it never depends on a server that
happens to be running. The data directory lives in a temporary folder (or one you give, so the
local run keeps its data between runs) and the server listens on a free loopback port.

Commits are durable by default (:attr:`Durability.CRASH_SAFE`), as on any production source: a
commit the client was told succeeded survives a SIGKILL of the server, so the producer never
publishes an event the source later does not have. Only a server nobody kills may trade that
for speed, and says so by name (:attr:`Durability.NEVER_KILLED`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from harness.processes import MissingSystemPackage, free_port

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 20
"""Seconds each way of stopping the server gets before the next, harder one."""


class ServerStillRunning(RuntimeError):
    """The server could not be stopped; its data directory was kept (see ``stop``)."""


class Durability(Enum):
    """What a commit survives: the server settings ``fsync``, ``synchronous_commit`` and
    ``full_page_writes`` (and whether ``initdb`` syncs the new cluster to disk)."""

    CRASH_SAFE = ("fsync=on", "synchronous_commit=on", "full_page_writes=on")
    """PostgreSQL's defaults: a COMMIT returns once its WAL is flushed to disk, so a SIGKILL of
    every server process (an OOM kill, a lost pod) or of the machine loses no acknowledged
    commit. Every server a pipeline reads from (the local run, ``olist services``, crash and
    chaos tests, benchmarks) runs this way."""
    NEVER_KILLED = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
    """For a server no test ever kills (the suite's shared session server): COMMIT returns
    before its WAL is written, so a SIGKILL loses up to 3 x ``wal_writer_delay`` (600 ms) of
    acknowledged commits, and a machine crash can corrupt the cluster."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if candidates:
        return str(candidates[-1])
    raise MissingSystemPackage(name, "postgresql")


@dataclass
class LocalPostgres:
    """A PostgreSQL server owned by this process.

    ``start()`` runs ``initdb`` when the data directory is new, then ``pg_ctl start`` on a free
    port; ``stop()`` runs ``pg_ctl stop -m fast`` and removes a temporary data directory.
    ``durability`` is :attr:`Durability.CRASH_SAFE` unless the caller names the fast mode.
    """

    data_dir: Path | None = None
    port: int = 0
    user: str = "olist"
    database: str = "olist"
    server_options: tuple[str, ...] = ()
    """Extra ``-c name=value`` settings, e.g. ``("ssl=on", "ssl_cert_file=...")``."""
    durability: Durability = Durability.CRASH_SAFE
    _temporary: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> LocalPostgres:
        if self.data_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="olist-pg-")
            self.data_dir = Path(self._temporary.name) / "data"
        self.port = self.port or free_port()
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        run_as = self._run_as()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
            self._chown(self.data_dir)
            no_sync = ["--no-sync"] if self.durability is Durability.NEVER_KILLED else []
            subprocess.run(
                [*run_as, _binary("initdb"), "-D", str(self.data_dir), "-U", self.user,
                 "-A", "trust", "-E", "UTF8", *no_sync],
                check=True, env=env, capture_output=True,
            )  # fmt: skip
        # Again at every start: a directory above may have been closed since (pytest resets
        # /tmp/pytest-of-<user> to 0700 whenever another session starts).
        self._open_parents(self.data_dir)
        socket_dir = self.data_dir / "socket"
        socket_dir.mkdir(exist_ok=True)
        self._chown(socket_dir, open_parents=False)
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {socket_dir} -c timezone=UTC "
            "-c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB"
        ) + "".join(f" -c {option}" for option in (*self.durability.value, *self.server_options))
        result = subprocess.run(
            [*run_as, _binary("pg_ctl"), "-D", str(self.data_dir), "-l",
             str(self.data_dir / "server.log"), "-o", options, "-w", "-t", "60", "start"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            server_log = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"PostgreSQL did not start on port {self.port}: {result.stderr.strip()}\n"
                f"server log tail:\n{server_log}"
            )
        self._create_database()
        log.info(
            "postgres started port=%s data_dir=%s durability=%s",
            self.port, self.data_dir, self.durability.name,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop the server, then remove a temporary data directory, never the other way round.

        ``pg_ctl stop -m fast`` first; a server still up after :data:`STOP_GRACE_SECONDS` (a
        backend deep in a long COMMIT) gets ``-m immediate``, then SIGKILL to its process group
        (``pg_ctl start`` makes the postmaster a session leader, its children in its group).
        A server outliving its deleted data directory keeps writing to an unlinked server.log
        that ``du`` cannot see: that filled the disk once, so a server that survives all this
        raises :class:`ServerStillRunning` and its directory is kept.
        """
        if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
            postmaster = self._postmaster_pid()
            for mode in ("fast", "immediate"):
                subprocess.run(
                    [*self._run_as(), _binary("pg_ctl"), "-D", str(self.data_dir), "-m", mode,
                     "-w", "-t", str(STOP_GRACE_SECONDS), "stop"],
                    capture_output=True,
                )  # fmt: skip
                if postmaster is None or not _alive(postmaster):
                    break
                log.warning("postgres did not stop pid=%d mode=%s", postmaster, mode)
            else:
                assert postmaster is not None  # the loop breaks without one
                _kill_group(postmaster)
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
            self.data_dir = None

    def _postmaster_pid(self) -> int | None:
        assert self.data_dir is not None
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _create_database(self) -> None:
        psql = _binary("psql")
        exists = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
             "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        if exists != "1":
            subprocess.run(
                [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d",
                 "postgres", "-c", f'CREATE DATABASE "{self.database}"'],
                check=True, capture_output=True,
            )  # fmt: skip

    # PostgreSQL refuses to run as root; CI and these machines run as root.
    @staticmethod
    def _run_as() -> list[str]:
        if os.geteuid() != 0:
            return []
        if shutil.which("runuser") is None:
            raise MissingSystemPackage("runuser", "util-linux")
        return ["runuser", "-u", _unprivileged_user(), "--"]

    @classmethod
    def give_to_server(cls, path: Path) -> None:
        """Make ``path`` (e.g. a TLS key) owned by the user the server runs as."""
        cls._chown(path)

    @classmethod
    def _chown(cls, path: Path, open_parents: bool = True) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, user=_unprivileged_user())
            if open_parents:
                cls._open_parents(path)

    @staticmethod
    def _open_parents(path: Path) -> None:
        """Let the server user traverse every directory above ``path`` (when we are root)."""
        if os.geteuid() != 0:
            return
        for parent in path.parents:
            if parent == Path("/") or parent == Path(tempfile.gettempdir()):
                break
            parent.chmod(parent.stat().st_mode | 0o011)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _kill_group(postmaster: int) -> None:
    """SIGKILL the postmaster's process group and wait until the postmaster is gone."""
    log.warning("postgres killed pid=%d", postmaster)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _alive(postmaster):
        if time.monotonic() > deadline:
            raise ServerStillRunning(
                f"PostgreSQL (pid {postmaster}) survived SIGKILL; kill it before deleting its "
                "data directory"
            )
        time.sleep(0.1)


def _unprivileged_user() -> str:
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise MissingSystemPackage("postgres user", "postgresql")
