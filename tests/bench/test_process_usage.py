"""bench.process_usage: CPU of a process, a session and a tree; peak memory in a thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.process_usage import (
    cpu_seconds,
    peak_proportional_set,
    peak_resident_set,
    session_cpu_seconds,
    tree_cpu_seconds,
)
from harness.processes import kill_process_group, start_process_group, wait_until

BURN = "import time\nwhile time.process_time() < {seconds}: pass\n"

# Reaps a child that burnt 0.4 s of CPU, burns 0.2 s itself, says so, then waits.
PARENT = f"""
import subprocess, sys, time
subprocess.run([sys.executable, "-c", {BURN.format(seconds=0.4)!r}], check=True)
{BURN.format(seconds=0.2)}
print("done", flush=True)
time.sleep(120)
"""


def test_cpu_of_a_session_and_a_tree_include_children_reaped_and_of_a_process_not(
    tmp_path: Path,
) -> None:
    log = tmp_path / "parent.log"
    parent = start_process_group([sys.executable, "-c", PARENT], log)
    try:
        wait_until(lambda: "done" in log.read_text(), 120, "the burn", parent, interval=0.05)
        own, session, tree = (
            cpu_seconds(parent.pid),
            session_cpu_seconds(parent.pid),
            tree_cpu_seconds(parent.pid),
        )
    finally:
        kill_process_group(parent)
    tick = 0.05  # /proc counts whole clock ticks (10 ms), the burns measured nanoseconds
    assert own >= 0.2 - tick
    assert session - own >= 0.4 - tick
    assert tree == session  # one process in the session, and it is the tree's root


def test_peak_resident_set_keeps_a_peak_freed_before_exit(tmp_path: Path) -> None:
    allocate = "import time\nblock = bytearray(96 * 2**20)\ndel block\ntime.sleep(1.5)\n"
    process = subprocess.Popen([sys.executable, "-c", allocate])
    peak = peak_resident_set(process.pid, interval=0.05).start()
    process.wait(timeout=120)
    peak.stop()
    assert peak.peak_bytes >= 96 * 2**20
    assert peak.breakdown == {"all": peak.peak_bytes}


def test_peak_proportional_set_splits_the_largest_sample_by_kind() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        sampler = peak_proportional_set(
            lambda pid: "this test" if pid == os.getpid() else "children", interval=0.05
        )
        with sampler:
            time.sleep(0.3)
    finally:
        child.kill()
        child.wait()
    assert set(sampler.breakdown) == {"this test", "children"}
    assert sum(sampler.breakdown.values()) == sampler.peak_bytes
    assert sampler.breakdown["children"] > 0
