"""The whole pipeline end to end: sustained throughput, freshness and exactly once, in one run.

``python -m bench.e2e`` starts everything on this machine, as ``olist local-run`` does, each
component a process of its own: PostgreSQL, the source API (``olist api``), the producer
(``olist produce``, long-running), the Pub/Sub emulator, the streaming job (``olist stream``,
processing-time trigger of ``--trigger-seconds``), fake-gcs-server and the BigQuery emulator
(tables in memory, as in ``bench.stream``). The load is new orders committed into PostgreSQL
at an offered rate of events (order items) per second by the order simulator's write path
(:mod:`bench.offered_load`); the feed's triggers render each event at COMMIT. Then, in order:

1. **warm-up** (``--warmup`` seconds at the freshness rate): JIT, first batches, pools;
2. **freshness** (``--freshness-rate``, default 2,000 events/s, for ``--duration`` seconds):
   for every event, the time from its COMMIT in PostgreSQL (wall clock when COMMIT returned) to
   the time its row was queryable in BigQuery (the ``batch done`` log line of the micro-batch
   that wrote it, ``stream_batch_id``), as p50 / p95 / p99 / max;
3. **sustained** (``--rate``, default 15,000 events/s, for ``--duration`` seconds): the rate
   delivered into BigQuery (least-squares slope of the rows written over the window, fitted
   at the batches' landings: :func:`bench.pipeline_sampler.delivery_trend`), the
   backlogs sampled every second (producer lag; published but not yet in BigQuery, i.e. in
   Pub/Sub or in the running batch), and the CPU seconds of each process per 1,000 events
   delivered (:mod:`bench.process_usage`). A rate *holds* when the load generator achieved
   it (95%) and BigQuery received it (95%) with the backlog not growing by more than 5% of it.
   With ``--find-max``, further windows search the highest rate that holds (x1.25 up after a
   rate that held, halfway down after one that did not, up to ``--max-windows`` windows);
4. **exactly once**: every event of the feed once in BigQuery (row count, distinct event ids
   and the sum of source sequences equal PostgreSQL's).

Between windows the pipeline drains (everything committed is in BigQuery). The baseline
measured in the same run is PostgreSQL's cost without the feed: the same insert of
``--calibration-events`` events with the triggers off (rolled back) against with them on,
which splits the database's CPU per event into writing and rendering the feed.

Prints a table (everything: freshness max, the Cloud Storage emulator's and the load
generator's CPU, each window, the load average), then, as the last line, one JSON object with
exactly the keys of issue 11: ``{"offered_events_per_s": ..., "delivered_events_per_s": ...,
"max_sustained_events_per_s": ..., "freshness_p50_s": ..., "freshness_p95_s": ...,
"freshness_p99_s": ..., "trigger_seconds": ..., "exactly_once": true, "cpu_ms_per_1k_events":
{"postgres": ..., "api": ..., "producer": ..., "pubsub_emulator": ..., "stream": ...,
"bigquery_emulator": ...}}`` (``max_sustained_events_per_s`` without ``--find-max``: the
sustained rate if it held, else null). ``--write-method`` sets
``OLIST_BIGQUERY_WRITE_METHOD`` for the streaming job (``load`` or ``storage_write``; the job's
default when absent). ``--write-method both`` measures the two side by side: the whole run
above with ``load``, then again, on a pipeline of its own started afresh, with
``storage_write``; the last line is then the ``load`` run's keys plus ``"storage_write"`` (the
same keys for that run) and ``"ratio_storage_write_vs_load"`` (freshness p50/p95, delivered
and max sustained rates, the streaming job's CPU per 1,000 events: below 1 is less).

SIGTERM and SIGHUP (``timeout``) stop every process and server before the run exits; any one
COMMIT of the writer is bounded (:data:`bench.offered_load.COMMIT_TIMEOUT_SECONDS`). The
streaming job is started again on its checkpoint when PySpark's connect-back times out (a
loaded machine; :data:`STREAM_STARTS`); a window whose backlog outlasts ``--drain-timeout``
does not hold and ends ``--find-max`` (the warm-up and freshness windows must drain).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.offered_load import LoadWindow, OfferedLoad
from bench.pipeline_sampler import (
    PipelineSampler,
    batch_done_times,
    delivery_trend,
    percentile,
)
from bench.process_usage import session_cpu_seconds, tree_cpu_seconds
from bench.report import print_table
from bench.termination import exit_on_termination
from harness.pipeline import LocalPipeline
from harness.processes import ProcessExited, free_port, wait_for_port, wait_until
from schemas.log_format import configure_logging

log = logging.getLogger("bench.e2e")

HOLD_SHARE = 0.95
"""A rate holds when the load achieved and BigQuery received at least this share of it."""
BACKLOG_GROWTH_SHARE = 0.05
"""... and the backlog grew by at most this share of it per second."""


class PipelineDidNotDrain(RuntimeError):
    """Events committed in PostgreSQL were still not in BigQuery when the drain timed out."""


class StreamingJobExited(RuntimeError):
    """``olist stream`` ended, and not from the one start-up failure the bench restarts."""


STREAM_STARTS = 4
"""Starts of the streaming job in one run. On a loaded machine the source's planner process
misses PySpark's fixed 10 s connect-back wait now and then, and the query ends (nothing read
then): the job is started again on its checkpoint, as Kubernetes would restart it."""
CONNECT_BACK_FAILURE = "failed to connect back"

WRITE_METHODS = ("load", "storage_write")
"""The streaming job's ``OLIST_BIGQUERY_WRITE_METHOD`` values."""
BOTH_WRITE_METHODS = "both"


@dataclass(frozen=True)
class Window:
    """One measured window at an offered rate."""

    load: LoadWindow
    delivered_events_per_second: float
    backlog_slope: float
    max_producer_lag: int
    max_pubsub_backlog: int
    cpu_seconds: dict[str, float]
    drain_seconds: float
    load_average: float = 0.0
    """The machine's 1-minute load average when the window ended (a shared machine)."""
    drained: bool = True
    """Whether the backlog drained in time after the window: a window offered far above what
    the pipeline delivers leaves more than the drain timeout's worth behind, and a later
    window would start on that backlog."""

    @property
    def holds(self) -> bool:
        target = self.load.target_events_per_second
        return (
            self.drained
            and self.load.events_per_second >= HOLD_SHARE * target
            and self.delivered_events_per_second >= HOLD_SHARE * self.load.events_per_second
            and self.backlog_slope <= BACKLOG_GROWTH_SHARE * self.load.events_per_second
        )

    def cpu_ms_per_1k_events(self) -> dict[str, float]:
        events = max(1, self.load.events)
        return {name: round(1e6 * value / events, 1) for name, value in self.cpu_seconds.items()}


class E2EBench:
    """The pipeline, the load and the sampler of one run; see the module docstring."""

    def __init__(self, pipeline: LocalPipeline, trigger_seconds: float) -> None:
        self.pipeline = pipeline
        self.trigger_seconds = trigger_seconds
        self.load: OfferedLoad | None = None
        self.sampler: PipelineSampler | None = None
        self.cpu_readers: dict[str, Callable[[], float]] = {}
        self.stream_env: dict[str, str] = {}
        self.stream_starts: list[subprocess.Popen[bytes]] = []
        # One event loop for the run: the load's connection belongs to it.
        self._runner = asyncio.Runner()

    # Start-up.

    def start(self, write_method: str | None) -> None:
        from source_db.ddl import init_database

        pipeline = self.pipeline
        postgres = pipeline.start_postgres()
        asyncio.run(init_database(postgres.dsn))
        pipeline.start_emulators()  # BigQuery tables in memory, as bench.stream
        if write_method:
            pipeline.variables["OLIST_BIGQUERY_WRITE_METHOD"] = write_method
        pipeline.run("setup", "setup", timeout=600)
        pipeline.variables["OLIST_LOG_LEVEL"] = "INFO"
        # What LocalPipeline.start_api does, keeping the process (its CPU is measured).
        pipeline.variables.setdefault("OLIST_API_KEY", secrets.token_urlsafe(24))
        api_port = free_port()
        api = pipeline.start("api", "api", OLIST_API_PORT=str(api_port))
        wait_for_port(api_port, timeout=120, process=api)
        pipeline.variables["OLIST_API_URL"] = api_url = f"http://127.0.0.1:{api_port}"
        self.stream_env = pipeline.stream_env("stream/checkpoint")
        status_port = int(self.stream_env["OLIST_METRICS_PORT"])
        self._start_stream()
        for _ in range(STREAM_STARTS):
            try:
                stream = self.stream_starts[-1]
                wait_for_port(status_port, timeout=300, process=stream)
                # The port opens before the query runs: a fresh JVM on a busy machine takes
                # minutes more, which the warm-up's drain must not count.
                wait_until(
                    lambda: _answers(f"http://127.0.0.1:{status_port}/healthz"),
                    timeout=600, what="the streaming query to run", process=stream,
                )  # fmt: skip
                break
            except ProcessExited:
                self.keep_stream_running()
        producer_port = free_port()
        producer = pipeline.start(
            "producer", "produce",
            OLIST_CURSOR_LOCATION=str(pipeline.work_dir / "producer" / "cursor.json"),
            OLIST_METRICS_PORT=str(producer_port), OLIST_METRICS_HOST="127.0.0.1",
        )  # fmt: skip
        wait_for_port(producer_port, timeout=120, process=producer)
        log.info("pipeline started api=%s stream_status_port=%d", api_url, status_port)
        assert postgres.data_dir is not None
        assert pipeline.pubsub and pipeline.gcs and pipeline.bigquery
        postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
        self.cpu_readers = {
            "postgres": lambda: tree_cpu_seconds(postmaster),
            "api": lambda: session_cpu_seconds(api.pid),
            "producer": lambda: session_cpu_seconds(producer.pid),
            "pubsub_emulator": lambda: session_cpu_seconds(pipeline.pubsub.pid),  # type: ignore[union-attr]
            "stream": lambda: session_cpu_seconds(self.stream_starts[-1].pid),
            "bigquery_emulator": lambda: session_cpu_seconds(pipeline.bigquery.pid),  # type: ignore[union-attr]
            "gcs_emulator": lambda: session_cpu_seconds(pipeline.gcs.pid),  # type: ignore[union-attr]
            "load_generator": time.process_time,
        }
        self.load = OfferedLoad(postgres.dsn)
        self._runner.run(self._open_load())
        load = self.load
        self.sampler = PipelineSampler(
            lambda: (load.log.items, load.log.last_sequence),
            f"http://127.0.0.1:{producer_port}/metrics",
            f"http://127.0.0.1:{status_port}/status",
        ).start()

    def _stream_log_name(self, start: int) -> str:
        return "stream" if start == 1 else f"stream-{start}"

    def _start_stream(self) -> None:
        name = self._stream_log_name(len(self.stream_starts) + 1)
        self.stream_starts.append(
            self.pipeline.start(
                name, "stream", "--trigger-interval", f"{self.trigger_seconds:g} seconds",
                **self.stream_env,
            )
        )  # fmt: skip

    def keep_stream_running(self) -> None:
        """Start the streaming job again if it ended from PySpark's connect-back timeout;
        raise :class:`StreamingJobExited` if it ended otherwise or too often."""
        if self.stream_starts[-1].poll() is None:
            return
        name = self._stream_log_name(len(self.stream_starts))
        text = self.pipeline.log(name, 200_000)
        if CONNECT_BACK_FAILURE not in text or len(self.stream_starts) >= STREAM_STARTS:
            raise StreamingJobExited(
                f"olist stream exited with {self.stream_starts[-1].returncode} after "
                f"{len(self.stream_starts)} start(s); log {name}:\n{text[-3000:]}"
            )
        log.warning("stream restarted after a connect-back timeout starts=%d",
                    len(self.stream_starts) + 1)  # fmt: skip
        self._start_stream()

    def stream_logs(self) -> list[Path]:
        return [self.pipeline.log_path(self._stream_log_name(start))
                for start in range(1, len(self.stream_starts) + 1)]  # fmt: skip

    async def _open_load(self) -> None:
        assert self.load is not None
        await self.load.open()

    def close(self) -> None:
        try:
            if self.sampler is not None:
                self.sampler.stop()
            if self.load is not None:
                self._runner.run(self.load.close())
        finally:
            self._runner.close()

    # Measurements.

    def calibrate(self, events: int) -> dict[str, float]:
        """PostgreSQL CPU per event of the insert with the feed's triggers off and on."""
        assert self.load is not None
        return self._runner.run(self.load.feed_cost(events))

    def window(self, rate: float, seconds: float, drain_timeout: float) -> Window:
        """Offer ``rate`` for ``seconds``, then drain; what the pipeline did meanwhile."""
        assert self.load is not None and self.sampler is not None
        self.keep_stream_running()
        before = {name: read() for name, read in self.cpu_readers.items()}
        load = self._runner.run(self.load.run(rate, seconds))
        cpu = {name: read() - before[name] for name, read in self.cpu_readers.items()}
        end = load.started_at + load.seconds
        samples = self.sampler.between(load.started_at, end)
        delivered, backlog = delivery_trend(samples)
        drained = True
        try:
            drain_seconds = self.drain(drain_timeout)
        except PipelineDidNotDrain as error:
            log.warning("window not drained target=%.0f error=%s", rate, error)
            drained, drain_seconds = False, drain_timeout
        window = Window(
            load=load,
            delivered_events_per_second=delivered,
            backlog_slope=backlog,
            max_producer_lag=max((s.producer_lag for s in samples), default=0),
            max_pubsub_backlog=max((s.pubsub_backlog for s in samples), default=0),
            cpu_seconds=cpu,
            drain_seconds=drain_seconds,
            load_average=os.getloadavg()[0],
            drained=drained,
        )
        log.info(
            "window done target=%.0f offered=%.0f delivered=%.0f backlog_slope=%.0f holds=%s "
            "drain_seconds=%.1f",
            rate, load.events_per_second, delivered, backlog, window.holds, drain_seconds,
        )  # fmt: skip
        return window

    def drain(self, timeout: float) -> float:
        """Wait until every committed event is in BigQuery; seconds waited."""
        assert self.sampler is not None
        started = time.monotonic()
        sample: Any = None
        while time.monotonic() - started < timeout:
            self.keep_stream_running()
            try:
                sample = self.sampler.sample()
            except OSError as error:  # a restarted job's status server is not up yet
                log.info("drain sample missed error=%s", error)
            else:
                if sample.delivered >= sample.committed:
                    return time.monotonic() - started
            time.sleep(0.5)
        raise PipelineDidNotDrain(f"the pipeline did not drain in {timeout:.0f} s: {sample}")

    def freshness(self, load: LoadWindow) -> list[float]:
        """Seconds from COMMIT to queryable in BigQuery of every event of the window."""
        assert self.load is not None
        done: dict[int, float] = {}
        for path in self.stream_logs():
            done.update(batch_done_times(path))
        rows = self.pipeline.query(
            f"SELECT source_sequence, stream_batch_id FROM {self.pipeline.table()} "
            f"WHERE source_sequence BETWEEN {load.first_sequence} AND {load.last_sequence}"
        )
        latencies = []
        for row in rows:
            committed_at = self.load.log.committed_at(int(row["source_sequence"]))
            queryable_at = done.get(int(row["stream_batch_id"]))
            if committed_at is None or queryable_at is None:
                raise RuntimeError(f"no commit or batch time for {row}")
            latencies.append(queryable_at - committed_at)
        if len(latencies) != load.events:
            raise RuntimeError(f"expected {load.events} rows of the window, found {len(latencies)}")
        return sorted(latencies)

    def exactly_once_after_drain(self, timeout: float, drained: bool) -> dict[str, Any]:
        """:meth:`exactly_once` once every committed event is in BigQuery (after a window
        that did not drain, waiting ``timeout`` more); ``holds`` is ``None`` if it never is:
        nothing can be said."""
        if not drained:
            try:
                self.drain(timeout)
            except PipelineDidNotDrain as error:
                log.warning("exactly once not checked error=%s", error)
                return {"holds": None}
        return self.exactly_once()

    def exactly_once(self) -> dict[str, Any]:
        """Every event of the feed once in BigQuery: counts and sums on both sides."""
        assert self.load is not None
        source = asyncio.run(_feed_totals(self.pipeline.variables["OLIST_DATABASE_URL"]))
        (loaded,) = self.pipeline.query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d, SUM(source_sequence) AS s "
            f"FROM {self.pipeline.table()}"
        )
        target = {"rows": int(loaded["n"]), "distinct_event_ids": int(loaded["d"]),
                  "sequence_sum": int(loaded["s"] or 0)}  # fmt: skip
        holds = (
            target["rows"] == target["distinct_event_ids"] == source["rows"]
            and target["sequence_sum"] == source["sequence_sum"]
        )
        return {"holds": holds, "source": source, "bigquery": target}


def _answers(url: str) -> bool:
    """Whether ``GET url`` answers 200 (a health endpoint)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:  # 503 (HTTPError is an OSError), refused, or slow to answer
        return False


async def _feed_totals(dsn: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, coalesce(sum(source_sequence), 0) AS s "
            "FROM olist.order_event_feed"
        )
        assert row is not None  # an aggregate always has a row
        return {"rows": int(row["n"]), "sequence_sum": int(row["s"])}
    finally:
        await connection.close()


def _require_drained(window: Window) -> Window:
    if not window.drained:
        raise PipelineDidNotDrain(
            f"the pipeline did not drain after {window.load.events} events offered at "
            f"{window.load.target_events_per_second:.0f}/s (see --drain-timeout)"
        )
    return window


def find_max(first: Window, measure: Callable[[float], Window], windows: int) -> float | None:
    """The highest offered rate that held: x1.25 after a rate that held, halfway to the
    highest that held (or down by half) after one that did not; ``windows`` windows in all.
    The search stops after a window whose backlog did not drain (the next would start on it).
    """
    held = first.load.target_events_per_second if first.holds else None
    failed = None if first.holds else first.load.target_events_per_second
    window = first
    for _ in range(windows - 1):
        if not window.drained:
            break
        if held is None:
            assert failed is not None
            rate = failed / 2
        elif failed is None:
            rate = held * 1.25
        else:
            rate = (held + failed) / 2
        window = measure(rate)
        if window.holds:
            held = max(held or 0.0, rate)
        else:
            failed = min(failed or rate, rate)
    return held


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="olist-bench-e2e-") as directory,
        LocalPipeline(Path(directory)) as pipeline,
    ):
        bench = E2EBench(pipeline, arguments.trigger_seconds)
        try:
            bench.start(arguments.write_method)
            calibration = bench.calibrate(arguments.calibration_events)
            drain = arguments.drain_timeout
            # The first batches of a fresh JVM (Janino, Python workers) drain in the warm-up.
            # Freshness needs every event of its window in BigQuery, on a drained start.
            _require_drained(bench.window(arguments.freshness_rate, arguments.warmup, drain + 600))
            fresh = _require_drained(
                bench.window(arguments.freshness_rate, arguments.duration, drain)
            )
            latencies = bench.freshness(fresh.load)
            sustained = bench.window(arguments.rate, arguments.duration, drain)
            windows = [sustained]

            def measure(rate: float) -> Window:
                window = bench.window(rate, arguments.duration, drain)
                windows.append(window)
                return window

            if arguments.find_max:
                max_sustained = find_max(sustained, measure, arguments.max_windows)
            else:
                max_sustained = sustained.load.target_events_per_second if sustained.holds else None
            exactly_once = bench.exactly_once_after_drain(drain, windows[-1].drained)
            load_average = os.getloadavg()
        except Exception:
            for name in (*(path.stem for path in bench.stream_logs()), "producer", "api"):
                if pipeline.log_path(name).exists():
                    print(f"--- {name} log tail\n{pipeline.log(name, 3000)}", file=sys.stderr)
            raise
        finally:
            bench.close()
    return _result(arguments, calibration, fresh, latencies, windows, max_sustained,
                   exactly_once, load_average)  # fmt: skip


def _result(
    arguments: argparse.Namespace,
    calibration: dict[str, float],
    fresh: Window,
    latencies: list[float],
    windows: list[Window],
    max_sustained: float | None,
    exactly_once: dict[str, Any],
    load_average: tuple[float, float, float],
) -> dict[str, Any]:
    sustained = windows[0]
    return {
        "offered_events_per_s": round(sustained.load.events_per_second),
        "delivered_events_per_s": round(sustained.delivered_events_per_second),
        "max_sustained_events_per_s": None if max_sustained is None else round(max_sustained),
        "freshness_p50_s": round(percentile(latencies, 0.50), 2),
        "freshness_p95_s": round(percentile(latencies, 0.95), 2),
        "freshness_p99_s": round(percentile(latencies, 0.99), 2),
        "freshness_max_s": round(latencies[-1], 2),
        "trigger_seconds": arguments.trigger_seconds,
        "exactly_once": exactly_once["holds"],
        "cpu_ms_per_1k_events": sustained.cpu_ms_per_1k_events(),
        "sustained_holds": sustained.holds,
        "target_events_per_s": round(sustained.load.target_events_per_second),
        "duration_s": arguments.duration,
        "freshness_offered_events_per_s": round(fresh.load.events_per_second),
        "freshness_load_average": round(fresh.load_average, 1),
        "freshness_events": len(latencies),
        "max_producer_lag_events": sustained.max_producer_lag,
        "max_pubsub_backlog_events": sustained.max_pubsub_backlog,
        "backlog_growth_events_per_s": round(sustained.backlog_slope),
        "postgres_calibration": calibration,
        "write_method": arguments.write_method or "default",
        "windows": [
            {
                "target": round(w.load.target_events_per_second),
                "offered": round(w.load.events_per_second),
                "delivered": round(w.delivered_events_per_second),
                "holds": w.holds,
                "drained": w.drained,
                "drain_s": round(w.drain_seconds, 1),
                "load_average": round(w.load_average, 1),
            }
            for w in windows
        ],
        "load_average": [round(value, 2) for value in load_average],
    }


SUMMARY_CPU_PROCESSES = (
    "postgres", "api", "producer", "pubsub_emulator", "stream", "bigquery_emulator",
)  # fmt: skip
"""The processes of the last line's ``cpu_ms_per_1k_events`` (issue 11); the table has all."""


def summary(details: dict[str, Any]) -> dict[str, Any]:
    """The last line: exactly the keys issue 11 names, from :func:`_result`'s details."""
    keys = (
        "offered_events_per_s", "delivered_events_per_s", "max_sustained_events_per_s",
        "freshness_p50_s", "freshness_p95_s", "freshness_p99_s", "trigger_seconds",
        "exactly_once",
    )  # fmt: skip
    cpu = details["cpu_ms_per_1k_events"]
    return {
        **{key: details[key] for key in keys},
        "cpu_ms_per_1k_events": {name: cpu[name] for name in SUMMARY_CPU_PROCESSES},
    }


RATIO_KEYS = (
    "freshness_p50_s", "freshness_p95_s", "delivered_events_per_s", "max_sustained_events_per_s",
)  # fmt: skip
"""What ``ratio_storage_write_vs_load`` compares, beside the streaming job's CPU per event."""


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def side_by_side(load: dict[str, Any], storage_write: dict[str, Any]) -> dict[str, Any]:
    """The last line of ``--write-method both``: the ``load`` run's summary, the
    ``storage_write`` run's under its own key, and their ratios (storage_write / load)."""
    ratios = {key: _ratio(storage_write[key], load[key]) for key in RATIO_KEYS}
    ratios["stream_cpu_ms_per_1k_events"] = _ratio(
        storage_write["cpu_ms_per_1k_events"]["stream"], load["cpu_ms_per_1k_events"]["stream"]
    )
    return {
        **summary(load),
        "storage_write": summary(storage_write),
        "ratio_storage_write_vs_load": ratios,
    }


def _print_table(result: dict[str, Any]) -> None:
    rows = [
        ("offered (target) events/s", f"{result['offered_events_per_s']:,} "
                                      f"({result['target_events_per_s']:,})"),
        ("delivered into BigQuery events/s", f"{result['delivered_events_per_s']:,}"),
        ("holds (bounded backlog)", str(result["sustained_holds"])),
        ("backlog growth events/s", f"{result['backlog_growth_events_per_s']:,}"),
        ("max producer lag / Pub/Sub backlog (events)",
         f"{result['max_producer_lag_events']:,} / {result['max_pubsub_backlog_events']:,}"),
        ("max sustained events/s", str(result["max_sustained_events_per_s"])),
        (f"freshness at {result['freshness_offered_events_per_s']:,} events/s p50/p95/p99/max",
         f"{result['freshness_p50_s']} / {result['freshness_p95_s']} / "
         f"{result['freshness_p99_s']} / {result['freshness_max_s']} s "
         f"(load {result['freshness_load_average']})"),
        ("trigger", f"{result['trigger_seconds']:g} s"),
        ("exactly once", str(result["exactly_once"])),
        *[(f"CPU ms per 1k events: {name}", f"{value:,.1f}")
          for name, value in result["cpu_ms_per_1k_events"].items()],
        *[(f"PostgreSQL {name}", str(value))
          for name, value in result["postgres_calibration"].items()],
        *[(f"window at {w['target']:,}/s", f"offered {w['offered']:,} delivered "
           f"{w['delivered']:,} holds {w['holds']} drain {w['drain_s']} s "
          f"load {w['load_average']}"
          + ("" if w["drained"] else " (not drained)"))
          for w in result["windows"]],
        ("load average (1, 5, 15 min)", str(result["load_average"])),
    ]  # fmt: skip
    print_table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rate", type=float, default=15_000, help="sustained offered events/s")
    parser.add_argument("--duration", type=float, default=120, help="seconds of each window")
    parser.add_argument("--warmup", type=float, default=30, help="warm-up seconds")
    parser.add_argument("--trigger-seconds", type=float, default=10, help="stream trigger")
    parser.add_argument("--freshness-rate", type=float, default=2_000, help="events/s")
    parser.add_argument("--find-max", action="store_true", help="search the highest rate")
    parser.add_argument("--max-windows", type=int, default=4, help="windows of --find-max")
    parser.add_argument("--calibration-events", type=int, default=20_000)
    parser.add_argument("--drain-timeout", type=float, default=600, help="seconds")
    parser.add_argument(
        "--write-method", default=None, choices=(*WRITE_METHODS, BOTH_WRITE_METHODS),
        help="OLIST_BIGQUERY_WRITE_METHOD of the streaming job; both: one run each",
    )  # fmt: skip
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    methods = WRITE_METHODS if arguments.write_method == BOTH_WRITE_METHODS else (None,)
    results: dict[str, dict[str, Any]] = {}
    with exit_on_termination():
        for method in methods:
            run_arguments = argparse.Namespace(**vars(arguments))
            run_arguments.write_method = method or arguments.write_method
            results[run_arguments.write_method or "default"] = run(run_arguments)
    for name, result in results.items():
        if len(results) > 1:
            print(f"write method: {name}")
        _print_table(result)
    if len(results) == 1:
        (only,) = results.values()
        print(json.dumps(summary(only)))
    else:
        print(json.dumps(side_by_side(results["load"], results["storage_write"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
