"""A backlog drained by ``olist stream --available-now`` in bounded batches, exactly once,
under a memory cap (issue 15, section 5), at CI scale; and the cap's watchdog itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import backlog

EVENTS = 40_000
ROWS_PER_TRIGGER = 10_000
CAP_MB = 4096
"""Summed RSS of the job's processes at most (driver, JVM, Python workers, planner)."""


def test_the_watchdog_kills_a_process_tree_that_passes_the_cap() -> None:
    grows = subprocess.Popen(
        [sys.executable, "-c", "import time; data = b'x' * (400 * 2**20); time.sleep(120)"]
    )
    try:
        with backlog.MemoryWatchdog(grows.pid, 100 * 2**20, grows.kill) as watchdog:
            code = grows.wait(timeout=60)
    finally:
        grows.kill()
        grows.wait()
    assert code == -9
    assert watchdog.tripped_at_bytes is not None
    assert watchdog.tripped_at_bytes > 100 * 2**20
    assert watchdog.rss.breakdown == {"driver (Python)": watchdog.rss.peak_bytes}


@pytest.mark.timeout(1800)  # a fresh JVM and four batches, on a shared 2-core machine
def test_a_backlog_drains_in_several_bounded_batches_exactly_once_under_a_memory_cap(
    tmp_path: Path,
) -> None:
    # run() raises unless BigQuery holds every event exactly once, and MemoryCapExceeded as
    # soon as the job's summed RSS passes the cap (the watchdog kills the job).
    result = backlog.run(
        EVENTS, CAP_MB, max_records_per_trigger=ROWS_PER_TRIGGER, timeout_seconds=1800,
        work_dir=tmp_path,
    )  # fmt: skip
    assert result["events"] == EVENTS
    assert result["batches"] >= EVENTS // ROWS_PER_TRIGGER
    assert result["largest_batch"] <= ROWS_PER_TRIGGER
    assert 0 < result["peak_rss_mb"] <= CAP_MB
    assert set(result["peak_rss_mb_by_kind"]) >= {"driver (Python)", "JVM", "Python workers"}
