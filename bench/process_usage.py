"""CPU time and memory of the processes a benchmark watches, read from Linux's ``/proc``.

CPU, read before and after a measurement (differences are what a run cost):

* :func:`cpu_seconds` - one process, its own threads only (a PostgreSQL backend, the API);
* :func:`session_cpu_seconds` - every live process of a session, with the children they
  reaped (a server started by :func:`harness.processes.start_process_group` leads a session
  of its own: its PID is the session id);
* :func:`tree_cpu_seconds` - a process and its live descendants, with the children they reaped
  (PostgreSQL: each backend calls ``setsid``, so the postmaster's session holds it alone).

Memory, sampled in a thread until stopped (:class:`PeakMemory`):

* :func:`peak_resident_set` - the peak resident set (``VmHWM``) of one process until it exits;
* :func:`peak_proportional_set` - the largest summed PSS of this process and its descendants
  in its session, with that sample split by kind of process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses),
# numbered from 0: state ppid pgrp session ... utime stime cutime cstime.
_SESSION, _UTIME, _STIME, _CSTIME = 3, 11, 12, 14


def _stat_fields(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _ticks_with_reaped_children(fields: list[str]) -> int:
    return sum(int(value) for value in fields[_UTIME : _CSTIME + 1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (raises :class:`OSError` once it has gone)."""
    fields = _stat_fields(pid)
    return (int(fields[_UTIME]) + int(fields[_STIME])) / _CLOCK_TICKS


def session_cpu_seconds(session: int) -> float:
    """User + system CPU of the live processes of ``session`` and the children they reaped."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(entry)
        except OSError:
            continue  # exited meanwhile
        if int(fields[_SESSION]) == session:
            ticks += _ticks_with_reaped_children(fields)
    return ticks / _CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``, its live descendants and the children they reaped."""
    ticks = 0
    for member in process_tree(pid):
        try:
            ticks += _ticks_with_reaped_children(_stat_fields(member))
        except OSError:
            continue  # exited meanwhile: its parent's reaped-children time holds it
    return ticks / _CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The live children of ``pid`` (from each of its threads' ``children`` file)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants, parents before children."""
    pids, frontier = [pid], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in children(parent)]
        pids += frontier
    return pids


def session_of(pid: int) -> int | None:
    """The session id of ``pid``; ``None`` once it has gone."""
    try:
        return os.getsid(pid)
    except OSError:
        return None


def command_line(pid: int) -> str | None:
    """The command line of ``pid``, arguments separated by spaces; ``None`` once it has gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def proportional_set_bytes(pid: int) -> int:
    """PSS of ``pid``: pages shared by forked processes (Spark's Python workers) count once in
    a sum over the sharers, not once per sharer. RSS when PSS is unreadable, 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError):
        return 0


def peak_resident_bytes(pid: int) -> int | None:
    """``VmHWM`` of ``pid``: the peak of its resident set so far; ``None`` once it has gone (or
    is a zombie, which has no address space left)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class PeakMemory:
    """The largest summed memory of a set of processes, sampled in a thread.

    Every ``interval`` seconds: ``processes()`` lists the PIDs, ``measure(pid)`` gives one
    process's bytes (``None``: it has gone). The sample with the largest sum sets
    :attr:`peak_bytes` and :attr:`breakdown` (that sample's bytes by ``kind(pid)``). Sampling
    ends at :meth:`stop` or when no listed process is left. Reading ``smaps_rollup`` of a busy
    JVM is not free: pick the interval with the cost in mind.
    """

    def __init__(
        self,
        processes: Callable[[], Iterable[int]],
        measure: Callable[[int], int | None],
        interval: float,
        kind: Callable[[int], str] | None = None,
    ) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.breakdown: dict[str, int] = {}
        self._processes = processes
        self._measure = measure
        self._kind = kind or (lambda pid: "all")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PeakMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> PeakMemory:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes: dict[int, int] = {}
            for pid in self._processes():
                size = self._measure(pid)
                if size is not None:
                    sizes[pid] = size
            if not sizes:
                return
            total = sum(sizes.values())
            if total > self.peak_bytes:
                self.peak_bytes = total
                breakdown: dict[str, int] = {}
                for pid, size in sizes.items():
                    kind = self._kind(pid)
                    breakdown[kind] = breakdown.get(kind, 0) + size
                self.breakdown = breakdown
            self._stop.wait(self.interval)


def peak_resident_set(pid: int, interval: float = 0.1) -> PeakMemory:
    """Peak resident set of process ``pid`` until it exits (call :meth:`PeakMemory.start`).

    ``ru_maxrss`` of a child is no substitute: Linux carries the parent's peak across fork and
    exec, so a child of a bench that generated its data in memory would report the bench's
    peak. ``VmHWM`` belongs to the child's address space only.
    """
    return PeakMemory(lambda: (pid,), peak_resident_bytes, interval)


def peak_proportional_set(
    kind: Callable[[int], str] | None = None, interval: float = 0.25
) -> PeakMemory:
    """Largest summed PSS of this process and its descendants that share its session (servers
    started in sessions of their own are left out), split by ``kind``."""
    session = os.getsid(0)

    def processes() -> list[int]:
        return [pid for pid in process_tree(os.getpid()) if session_of(pid) == session]

    return PeakMemory(processes, proportional_set_bytes, interval, kind)
