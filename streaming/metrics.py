"""Prometheus metrics and the JSON status of the streaming job.

The :class:`StreamStatus` object is the one place the job's state is kept: the query listener
and the batch writer update it, ``/metrics`` and ``/status`` read it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streaming.batch_writer import BatchOutcome


@dataclass
class StreamMetrics:
    """The job's Prometheus metrics, in a registry of their own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.input_rows = Counter(
            "olist_stream_input_rows", "Rows read from Pub/Sub (events, before dedup).", registry=r
        )
        self.input_rows_per_second = Gauge(
            "olist_stream_input_rows_per_second", "Input rate of the last batch.", registry=r
        )
        self.processed_rows_per_second = Gauge(
            "olist_stream_processed_rows_per_second", "Processing rate of the last batch.",
            registry=r,
        )  # fmt: skip
        self.batch_duration = Histogram(
            "olist_stream_batch_duration_seconds", "Wall time of a micro-batch.", registry=r,
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
        )  # fmt: skip
        self.valid_rows = Counter(
            "olist_stream_valid_rows", "Valid events written to the lake and BigQuery.", registry=r
        )
        self.rejected_rows = Counter(
            "olist_stream_rejected_rows", "Payloads sent to the dead-letter sink.", registry=r
        )
        self.duplicate_rows_in_stream = Counter(
            "olist_stream_duplicate_rows_dropped_in_stream",
            "Copies of an event_id dropped by the Spark state (within OLIST_DEDUP_WINDOW).",
            registry=r,
        )
        self.duplicate_rows_at_sink = Counter(
            "olist_stream_duplicate_rows_dropped_at_sink",
            "Copies of an event_id the BigQuery sink did not insert (already loaded).",
            registry=r,
        )
        self.late_rows = Counter(
            "olist_stream_late_rows",
            "Rows published longer than OLIST_DEDUP_WINDOW before their batch (still loaded).",
            registry=r,
        )
        self.rows_dropped_by_watermark = Counter(
            "olist_stream_rows_dropped_by_watermark",
            "Rows Spark dropped as older than the watermark (0 by design; alert if not).",
            registry=r,
        )
        self.running_batch_seconds = Gauge(
            "olist_stream_running_batch_seconds",
            "How long the micro-batch in progress has run (0 when none).",
            registry=r,
        )
        self.replayed_batches = Counter(
            "olist_stream_replayed_batches", "Batches replayed after a restart.", registry=r
        )
        self.last_batch_id = Gauge(
            "olist_stream_last_committed_batch_id", "Id of the last committed batch.", registry=r
        )
        self.last_commit_time = Gauge(
            "olist_stream_last_committed_batch_timestamp_seconds",
            "Unix time the last batch was committed.", registry=r,
        )  # fmt: skip
        self.acknowledged_messages = Gauge(
            "olist_stream_pubsub_messages_acknowledged_total",
            "Pub/Sub messages acknowledged by the source since the staging dir was created.",
            registry=r,
        )
        self.query_active = Gauge(
            "olist_stream_query_active", "1 while the streaming query runs.", registry=r
        )


RECENT_WINDOW_SECONDS = 3600.0
"""``/status`` sums the batches written in this window (``last_hour``) for health checks."""


class StreamStatus:
    """Thread-safe state of the job, shown at ``/status`` and exported at ``/metrics``."""

    def __init__(
        self,
        metrics: StreamMetrics | None = None,
        source_stats_path: Path | None = None,
        batch_stuck_seconds: float = 1800.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics or StreamMetrics()
        self.source_stats_path = source_stats_path
        self.batch_stuck_seconds = batch_stuck_seconds
        self._clock = clock
        self._running_batch: tuple[int, float] | None = None
        self._warming_up = False
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {
            "query_id": None,
            "run_id": None,
            "active": False,
            "started_at": time.time(),
            "last_batch_id": None,
            "last_committed_at": None,
            "last_trigger_at": None,
            "last_progress": None,
            "last_batch": None,
            "exception": None,
            "totals": {
                "input_rows": 0,
                "valid_rows": 0,
                "rejected_rows": 0,
                "duplicate_rows_dropped_in_stream": 0,
                "duplicate_rows_dropped_at_sink": 0,
                "late_rows": 0,
                "rows_dropped_by_watermark": 0,
            },
        }
        # (written at, batch id, valid rows, rejected rows) of the batches of the last hour
        self._recent: deque[tuple[float, int, int, int]] = deque()

    def query_started(self, query_id: str, run_id: str) -> None:
        with self._lock:
            self._state.update(query_id=query_id, run_id=run_id, active=True, exception=None)
        self.metrics.query_active.set(1)

    def query_terminated(self, exception: str | None) -> None:
        with self._lock:
            self._state.update(active=False, exception=exception)
        self.metrics.query_active.set(0)

    def progress(self, progress: dict[str, Any]) -> None:
        """A committed batch's progress, as Spark reports it (``StreamingQueryProgress``)."""
        rows = int(progress.get("numInputRows") or 0)
        duration_ms = (progress.get("durationMs") or {}).get("triggerExecution")
        self.metrics.input_rows.inc(rows)
        self.metrics.input_rows_per_second.set(float(progress.get("inputRowsPerSecond") or 0))
        self.metrics.processed_rows_per_second.set(
            float(progress.get("processedRowsPerSecond") or 0)
        )
        if duration_ms is not None:
            self.metrics.batch_duration.observe(duration_ms / 1000)
        operators = progress.get("stateOperators") or []
        duplicates = sum(
            int((operator.get("customMetrics") or {}).get("numDroppedDuplicateRows") or 0)
            for operator in operators
        )
        dropped_late = sum(
            int(operator.get("numRowsDroppedByWatermark") or 0) for operator in operators
        )
        self.metrics.duplicate_rows_in_stream.inc(duplicates)
        self.metrics.rows_dropped_by_watermark.inc(dropped_late)
        now = time.time()
        self.metrics.last_batch_id.set(int(progress["batchId"]))
        self.metrics.last_commit_time.set(now)
        with self._lock:
            self._state["last_batch_id"] = int(progress["batchId"])
            self._state["last_committed_at"] = now
            self._state["last_trigger_at"] = now
            self._state["totals"]["input_rows"] += rows
            self._state["totals"]["duplicate_rows_dropped_in_stream"] += duplicates
            self._state["totals"]["rows_dropped_by_watermark"] += dropped_late
            self._state["last_progress"] = {
                "batch_id": progress.get("batchId"),
                "timestamp": progress.get("timestamp"),
                "input_rows": rows,
                "input_rows_per_second": progress.get("inputRowsPerSecond"),
                "processed_rows_per_second": progress.get("processedRowsPerSecond"),
                "duration_ms": progress.get("durationMs"),
            }

    def idle(self) -> None:
        """A trigger found nothing to read (Spark's ``QueryIdleEvent``): the query is alive."""
        with self._lock:
            self._state["last_trigger_at"] = time.time()

    def batch_started(self, batch_id: int) -> None:
        """The sink began writing ``batch_id`` (its end is :meth:`batch_written`)."""
        with self._lock:
            self._running_batch = (batch_id, self._clock())

    def batch_written(self, outcome: BatchOutcome) -> None:
        self.metrics.valid_rows.inc(outcome.valid_rows)
        self.metrics.rejected_rows.inc(outcome.rejected_rows)
        self.metrics.duplicate_rows_at_sink.inc(outcome.duplicate_rows)
        self.metrics.late_rows.inc(outcome.late_rows)
        if outcome.replayed:
            self.metrics.replayed_batches.inc()
        with self._lock:
            self._recent.append(
                (time.time(), outcome.batch_id, outcome.valid_rows, outcome.rejected_rows)
            )
            self._state["totals"]["valid_rows"] += outcome.valid_rows
            self._state["totals"]["rejected_rows"] += outcome.rejected_rows
            self._state["totals"]["duplicate_rows_dropped_at_sink"] += outcome.duplicate_rows
            self._state["totals"]["late_rows"] += outcome.late_rows
            self._running_batch = None
            self._state["last_batch"] = {
                "batch_id": outcome.batch_id,
                "valid_rows": outcome.valid_rows,
                "rejected_rows": outcome.rejected_rows,
                "objects": outcome.objects,
                "replayed": outcome.replayed,
                "seconds": round(outcome.seconds, 3),
                "duplicate_rows_dropped_at_sink": outcome.duplicate_rows,
                "late_rows": outcome.late_rows,
            }

    def running_batch(self) -> dict[str, Any] | None:
        """The batch the sink is writing, how long it has run and whether that is too long."""
        with self._lock:
            running = self._running_batch
        if running is None:
            self.metrics.running_batch_seconds.set(0)
            return None
        batch_id, started = running
        seconds = max(0.0, self._clock() - started)
        self.metrics.running_batch_seconds.set(seconds)
        return {
            "batch_id": batch_id,
            "seconds": round(seconds, 1),
            "stuck": seconds > self.batch_stuck_seconds,
            "stuck_after_seconds": self.batch_stuck_seconds,
        }

    def refresh_source_stats(self) -> dict[str, Any]:
        """Read the Pub/Sub source's counters (it runs in another process and writes a file)."""
        if self.source_stats_path is None:
            return {}
        try:
            # Written with an atomic rename by the source: never seen half-written.
            stats: dict[str, Any] = json.loads(self.source_stats_path.read_text())
        except FileNotFoundError:
            return {}  # nothing acknowledged yet
        acknowledged = stats.get("acknowledged_messages")
        if isinstance(acknowledged, int):
            self.metrics.acknowledged_messages.set(acknowledged)
        return stats

    def warm_up_started(self) -> None:
        """The start-up warm-up (:mod:`streaming.warmup`) runs: not ready until it ends."""
        with self._lock:
            self._warming_up = True

    def warm_up_finished(self) -> None:
        with self._lock:
            self._warming_up = False

    def snapshot(self) -> dict[str, Any]:
        source = self.refresh_source_stats()
        with self._lock:
            state: dict[str, Any] = json.loads(json.dumps(self._state))
            state["last_hour"] = self._last_hour()
            state["warming_up"] = self._warming_up
        state["source"] = source
        state["healthy"] = bool(state["active"]) and state["exception"] is None
        running = self.running_batch()
        state["running_batch"] = running
        # Ready: running, warmed up, and not stuck in a batch (a BigQuery job that hangs, a
        # lost response).
        state["ready"] = (
            state["healthy"]
            and not state["warming_up"]
            and not (running is not None and running["stuck"])
        )
        return state

    def _last_hour(self) -> dict[str, Any]:
        """Batches written in the last :data:`RECENT_WINDOW_SECONDS`: ids and row counts."""
        since = time.time() - RECENT_WINDOW_SECONDS
        while self._recent and self._recent[0][0] < since:
            self._recent.popleft()
        return {
            "batch_ids": [batch_id for _, batch_id, _, _ in self._recent],
            "valid_rows": sum(valid for _, _, valid, _ in self._recent),
            "rejected_rows": sum(rejected for _, _, _, rejected in self._recent),
        }
