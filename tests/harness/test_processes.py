"""harness.processes: process groups end whole, and waits fail early with the reason."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.processes import (
    ProcessExited,
    free_port,
    kill_process_group,
    start_process_group,
    wait_for_port,
    wait_until,
)

# Starts a grandchild, writes its PID, then waits: both are in the child's process group.
PARENT_OF_SLEEPER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def test_kill_process_group_ends_the_process_and_what_it_started(tmp_path: Path) -> None:
    log = tmp_path / "parent.log"
    parent = start_process_group([sys.executable, "-c", PARENT_OF_SLEEPER], log)
    wait_until(lambda: log.read_text().strip() != "", 60, "the grandchild's PID", parent, 0.05)
    grandchild = int(log.read_text())
    assert _alive(grandchild)

    kill_process_group(parent)

    assert parent.returncode is not None
    wait_until(lambda: not _alive(grandchild), 10, "the grandchild to end", interval=0.05)


def test_wait_for_port_fails_as_soon_as_the_process_exits(tmp_path: Path) -> None:
    process = start_process_group(
        [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "exits.log"
    )
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with code 3 before listening"):
        wait_for_port(free_port(), timeout=120, process=process)
    assert time.monotonic() - started < 60


def test_wait_until_names_what_it_waited_for(tmp_path: Path) -> None:
    process = start_process_group(
        [sys.executable, "-c", "raise SystemExit(4)"], tmp_path / "exits.log"
    )
    with pytest.raises(ProcessExited, match=r"process exited \(4\) while waiting for the sign"):
        wait_until(lambda: False, 120, "the sign", process, interval=0.05)
    with pytest.raises(TimeoutError, match="after 0 s waiting for nothing"):
        wait_until(lambda: False, 0.2, "nothing", interval=0.05)
