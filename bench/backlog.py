"""A backlog of N events drained by ``olist stream --available-now`` under a memory cap.

``python -m bench.backlog --events 10000000 --cap-mb 6000`` starts the Pub/Sub emulator,
fake-gcs-server and the BigQuery emulator, publishes N events (1,000 per zstd-compressed
message, as the producer does, from a child process), then runs the streaming job as a
process of its own with ``--available-now`` and the default per-trigger limits (or
``--max-records-per-trigger``). A watchdog sums the resident set (RSS) of the job's processes
(the Python driver, the JVM, its Python workers and the data source's planner) every
0.5 s and kills the job, failing the run, as soon as the sum passes the cap: the backlog must
drain in bounded batches, never as one. Summed RSS counts the pages forked Python workers
share once per worker, so it is the stricter measure; the peak PSS (shared pages split
between sharers, sampled every 2 s: reading ``smaps_rollup`` of a busy JVM is not free) is
reported beside it, both split by kind of process.

The run then checks what BigQuery holds: every event exactly once (rows = distinct event ids
= N), in several micro-batches (``stream_batch_id``), none over the per-trigger limit.

Prints a table, then, as the last line, one JSON object: ``{"events": N, "batches": ...,
"largest_batch": ..., "max_records_per_trigger": ..., "seconds": ..., "events_per_s": ...,
"cap_mb": ..., "peak_rss_mb": ..., "peak_rss_mb_by_kind": {...}, "peak_pss_mb": ...,
"peak_pss_mb_by_kind": {...}, "publish_seconds": ...}``. The baseline in the same run is the
cap itself: ``"peak_rss_vs_cap"``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.process_usage import PeakMemory, command_line, process_tree, proportional_set_bytes
from bench.report import memory_rows, print_table
from bench.stream import publish_in_child
from bench.termination import exit_on_termination
from harness.pipeline import LocalPipeline
from harness.processes import kill_process_group
from schemas.log_format import configure_logging

log = logging.getLogger("bench.backlog")

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
RSS_INTERVAL_SECONDS = 0.5
PSS_INTERVAL_SECONDS = 2.0
NAMESPACE = "backlog"
BIGQUERY_MEMORY_LIMIT = "4GB"
"""DuckDB's memory limit in the BigQuery emulator. Its default (80 % of the machine), tables
in memory, got it killed by the kernel at 20 GB with 8M events loaded, next to the job."""


class MemoryCapExceeded(RuntimeError):
    """The job's summed resident set passed the cap: it was killed."""


def resident_set_bytes(pid: int) -> int | None:
    """RSS of ``pid`` from ``statm`` (cheap to read); ``None`` once it has gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def process_kind(pid: int, driver: int) -> str:
    """What a process of the job is, from its command line (``driver``: the job's own PID)."""
    if pid == driver:
        return "driver (Python)"
    command = command_line(pid)
    if command is None:
        return "other"
    if "java" in command.split(" ", 1)[0]:
        return "JVM"
    if "pyspark.daemon" in command or "pyspark.worker" in command:
        return "Python workers"
    if "pyspark" in command:
        return "Python data source planner"
    return "other"


class MemoryWatchdog:
    """Peak summed RSS and PSS of a process tree, by kind; ``on_cap()`` once the RSS passes
    ``cap_bytes`` (then :attr:`tripped_at_bytes` holds the sum that passed it)."""

    def __init__(self, root: int, cap_bytes: int, on_cap: Callable[[], None]) -> None:
        self.cap_bytes = cap_bytes
        self.tripped_at_bytes: int | None = None
        self._on_cap = on_cap

        def kind(pid: int) -> str:
            return process_kind(pid, root)

        def processes() -> list[int]:
            return process_tree(root)

        def checked(pid: int) -> int | None:
            return resident_set_bytes(pid)

        self.rss = PeakMemory(processes, checked, RSS_INTERVAL_SECONDS, kind)
        self.pss = PeakMemory(processes, proportional_set_bytes, PSS_INTERVAL_SECONDS, kind)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> MemoryWatchdog:
        self.rss.start()
        self.pss.start()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.rss.stop()
        self.pss.stop()

    def _watch(self) -> None:
        # The RSS sampler keeps the largest sum seen: passing the cap once is enough.
        while not self._stop.wait(RSS_INTERVAL_SECONDS):
            if self.rss.peak_bytes > self.cap_bytes:
                self.tripped_at_bytes = self.rss.peak_bytes
                log.error(
                    "memory cap passed rss_mb=%d cap_mb=%d: killing the job",
                    self.rss.peak_bytes // 2**20,
                    self.cap_bytes // 2**20,
                )
                self._on_cap()
                return


def _megabytes(sizes: dict[str, int]) -> dict[str, int]:
    return {kind: round(size / 2**20) for kind, size in sorted(sizes.items())}


JOB_ATTEMPTS = 5


def _attempts(pipeline: LocalPipeline, attempts: int) -> Iterator[int]:
    """Attempt numbers of the job: another only while the last failed to start its planner.

    On a loaded machine the source's planner process (Python, started by the JVM when a query
    starts) may miss PySpark's fixed connect-back timeout ("Python worker failed to connect
    back"): the job exits before reading anything, and a new run of it resumes from the
    checkpoint, as a restarted job does in production.
    """
    for attempt in range(1, attempts + 1):
        yield attempt
        log_text = pipeline.log_path(f"stream-{attempt}").read_text(errors="replace")
        if _FAILED_START not in log_text or "stream failed" not in log_text:
            return
        log.warning("the job failed to start its planner; running it again attempt=%d", attempt)


_FAILED_START = "failed to connect back"


def _drain(
    pipeline: LocalPipeline, job_env: dict[str, str], cap_mb: int, timeout: float, attempt: int
) -> MemoryWatchdog:
    """One run of ``olist stream --available-now`` under the watchdog; its memory figures.

    Raises :class:`MemoryCapExceeded` when the watchdog killed it, :class:`RuntimeError` when
    it failed otherwise (unless it failed to start its planner: :func:`_attempts` retries).
    """
    name = f"stream-{attempt}"
    job = pipeline.start(name, "stream", "--available-now", **job_env)
    with MemoryWatchdog(job.pid, cap_mb * 2**20, lambda: kill_process_group(job)) as watchdog:
        code = job.wait(timeout=timeout)
    if watchdog.tripped_at_bytes is not None:
        raise MemoryCapExceeded(
            f"the job's summed RSS reached {watchdog.tripped_at_bytes / 2**20:,.0f} MB, over "
            f"the cap of {cap_mb:,} MB ({_megabytes(watchdog.rss.breakdown)}):\n"
            f"{pipeline.log(name)}"
        )
    if code != 0 and (attempt == JOB_ATTEMPTS or _FAILED_START not in pipeline.log(name)):
        raise RuntimeError(f"olist stream exited {code}:\n{pipeline.log(name)}")
    return watchdog


def run(
    count: int,
    cap_mb: int,
    max_records_per_trigger: int | None = None,
    timeout_seconds: float = 7200.0,
    work_dir: Path | None = None,
    bigquery_memory_limit: str = BIGQUERY_MEMORY_LIMIT,
) -> dict[str, Any]:
    """Publish ``count`` events, drain them with ``availableNow`` under ``cap_mb``; the figures.

    ``max_records_per_trigger``: ``OLIST_MAX_RECORDS_PER_TRIGGER`` for the job (``None``: the
    job's default). Raises :class:`MemoryCapExceeded` when the watchdog killed the job.
    ``bigquery_memory_limit``: DuckDB's in the BigQuery emulator, whose tables are kept in a
    file of the run's directory (see :data:`BIGQUERY_MEMORY_LIMIT`).
    """
    from google.cloud import pubsub_v1

    from streaming.resources import create_sink_resources
    from streaming.settings import StreamSettings

    with (
        tempfile.TemporaryDirectory(prefix="olist-bench-backlog-", dir=work_dir) as directory,
        LocalPipeline(Path(directory), namespace=NAMESPACE) as pipeline,
    ):
        pubsub = pipeline.start_pubsub()
        pipeline.start_gcs()
        pipeline.start_bigquery(
            data_dir=Path(directory) / "bigquery", memory_limit=bigquery_memory_limit
        )
        job_env = pipeline.stream_env(OLIST_LOG_LEVEL="INFO")
        if max_records_per_trigger is not None:
            job_env["OLIST_MAX_RECORDS_PER_TRIGGER"] = str(max_records_per_trigger)
        previous = dict(os.environ)
        os.environ.update(pipeline.variables, **job_env)
        try:
            settings = StreamSettings()
            create_sink_resources(settings)  # what `olist setup` does: bucket, dataset, tables
            pubsub_v1.PublisherClient().create_topic(name=settings.topic_path)
            pubsub_v1.SubscriberClient().create_subscription(
                name=settings.subscription_path, topic=settings.topic_path, ack_deadline_seconds=600
            )
        finally:
            os.environ.clear()
            os.environ.update(previous)
        limit = settings.max_records_per_trigger
        publish_seconds = publish_in_child(
            pubsub.host, settings.topic_path, count, days=730, json_path=None
        )
        log.info("published events=%d seconds=%.1f", count, publish_seconds)

        started = time.monotonic()
        peaks = [
            _drain(pipeline, job_env, cap_mb, timeout_seconds, attempt)
            for attempt in _attempts(pipeline, JOB_ATTEMPTS)
        ]
        seconds = time.monotonic() - started
        rss = max(peaks, key=lambda watchdog: watchdog.rss.peak_bytes).rss
        pss = max(peaks, key=lambda watchdog: watchdog.pss.peak_bytes).pss
        loaded = pipeline.count_loaded()
        batches = pipeline.query(
            f"SELECT stream_batch_id, COUNT(*) AS n FROM {pipeline.table()} GROUP BY 1"
        )
    if loaded.rows != count or loaded.distinct_event_ids != count:
        raise RuntimeError(
            f"BigQuery holds {loaded.rows} rows of {loaded.distinct_event_ids} distinct events, "
            f"expected {count} of each"
        )
    rows_per_batch = sorted(int(row["n"]) for row in batches)
    return {
        "events": count,
        "batches": len(rows_per_batch),
        "largest_batch": rows_per_batch[-1],
        "max_records_per_trigger": limit,
        "seconds": round(seconds, 1),
        "events_per_s": round(count / seconds),
        "cap_mb": cap_mb,
        "peak_rss_mb": round(rss.peak_bytes / 2**20),
        "peak_rss_vs_cap": round(rss.peak_bytes / (cap_mb * 2**20), 2),
        "peak_rss_mb_by_kind": _megabytes(rss.breakdown),
        "peak_pss_mb": round(pss.peak_bytes / 2**20),
        "peak_pss_mb_by_kind": _megabytes(pss.breakdown),
        "publish_seconds": round(publish_seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument(
        "--cap-mb", type=int, default=6000, help="summed RSS of the job's processes at most"
    )
    parser.add_argument(
        "--max-records-per-trigger",
        type=int,
        default=None,
        help="OLIST_MAX_RECORDS_PER_TRIGGER of the job (default: the job's own default)",
    )
    parser.add_argument("--timeout-seconds", type=float, default=7200.0)
    parser.add_argument(
        "--bigquery-memory-limit",
        default=BIGQUERY_MEMORY_LIMIT,
        help="DuckDB's memory limit in the BigQuery emulator (its tables in a file)",
    )
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    with exit_on_termination():
        result = run(
            arguments.events,
            arguments.cap_mb,
            arguments.max_records_per_trigger,
            arguments.timeout_seconds,
            bigquery_memory_limit=arguments.bigquery_memory_limit,
        )
    rows = [
        ("events in the backlog", f"{result['events']:,}"),
        ("rows per trigger at most", f"{result['max_records_per_trigger']:,}"),
        ("micro-batches (largest)", f"{result['batches']} ({result['largest_batch']:,} rows)"),
        ("drained in", f"{result['seconds']:,.1f} s ({result['events_per_s']:,} events/s)"),
        ("memory cap, summed RSS", f"{result['cap_mb']:,} MB"),
        *memory_rows("peak summed RSS", result["peak_rss_mb"], result["peak_rss_mb_by_kind"]),
        *memory_rows("peak summed PSS", result["peak_pss_mb"], result["peak_pss_mb_by_kind"]),
        ("publishing to the emulator (setup)", f"{result['publish_seconds']} s"),
    ]
    print_table(rows)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
