"""SIGKILL a PostgreSQL server with every one of its processes, as a lost node would.

``pg_ctl`` detaches the postmaster from its caller, and each of its children (checkpointer,
WAL writer, backends) runs in a session of its own: a process-group kill reaches the postmaster
alone, and the children then linger until they notice it is gone, holding the shared memory a
new server on the same data directory must not find attached. :func:`kill_postgres` kills the
postmaster and all its descendants at once, then waits until none of them runs.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


class PostgresStillRunning(RuntimeError):
    """A process of the killed server was still alive after the wait."""


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (Linux).

    The kernel's per-thread ``children`` lists answer in microseconds; the scan of every
    process (a kernel without ``CONFIG_PROC_CHILDREN``) takes tens of milliseconds per call on
    a busy machine, time in which the server's WAL writer, still running, flushes what a real
    crash would have lost.
    """
    threads = list(Path(f"/proc/{pid}/task").glob("*/children"))
    if threads:
        listed: list[int] = []
        for children in threads:
            try:
                listed += [int(child) for child in children.read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
        return listed
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def postmaster_pid(data_dir: Path) -> int | None:
    """The PID ``postmaster.pid`` records, or ``None`` when the file is absent."""
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except FileNotFoundError:
        return None


def kill_postgres(data_dir: Path, timeout: float = 30.0, zombie_grace: float = 5.0) -> list[int]:
    """SIGKILL the server of ``data_dir`` and its descendants; returns the PIDs killed.

    ``postmaster.pid`` stays behind, as after a real crash: the next ``pg_ctl start`` sees the
    recorded process is gone and recovers from the WAL. Raises :class:`PostgresStillRunning`
    if a process survives ``timeout`` seconds. The killed postmaster is nobody's child here
    (``pg_ctl`` left it to PID 1), so it stays a zombie until PID 1 reaps it, and PostgreSQL
    takes a zombie for a live server: the wait lasts until it is reaped, and if it is not
    within ``zombie_grace`` seconds, the lock file is removed, which is what a node crash
    leaves (a PID that no longer exists).
    """
    pid = postmaster_pid(data_dir)
    if pid is None or not _running(pid):
        return []
    # Children first: the postmaster restarts none once it is stopped, and none escapes.
    os.kill(pid, signal.SIGSTOP)
    processes = [pid]
    pending = [pid]
    while pending:
        children = _children(pending.pop())
        processes += children
        pending += children
    for process in processes:
        try:
            os.kill(process, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    while any(_running(process) for process in processes):
        if time.monotonic() > deadline:
            alive = [process for process in processes if _running(process)]
            raise PostgresStillRunning(f"PostgreSQL processes {alive} survived SIGKILL")
        time.sleep(0.05)
    reaped_by = time.monotonic() + zombie_grace
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > reaped_by:
            (data_dir / "postmaster.pid").unlink(missing_ok=True)
            break
        time.sleep(0.05)
    return processes
