"""Prometheus metrics of the producer and the small HTTP server exposing them.

``GET /metrics`` answers the Prometheus text format, ``GET /healthz`` answers 200 while the
pipeline runs and 503, with the reason, once it has stopped on an error or has been stuck
(retrying the API or Pub/Sub, or waiting on flow control, with no progress) for longer than
``OLIST_HEALTH_STUCK_SECONDS``. The server is a few lines on
``asyncio.start_server`` so it lives in the daemon's event loop, with no extra thread.

It is not there for speed: Prometheus scrapes every few seconds at most, and either server
would cost nothing measurable. prometheus_client's ``start_http_server`` answers the metrics
on every path, always with 200, so it cannot be the liveness probe that says 503 after a
failure; ``/healthz`` beside it would need a second server on a second port, and a thread of
its own to start and stop. Rendering stays the library's (``generate_latest``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

PUBLISH_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class ProducerMetrics:
    """Every metric of one producer, in its own registry (tests may run several)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_fetched = Counter(
            "olist_producer_events_fetched", "Events read from the source API.", registry=r
        )
        self.events_published = Counter(
            "olist_producer_events_published",
            "Events confirmed by Pub/Sub on the main topic.",
            registry=r,
        )
        self.messages_published = Counter(
            "olist_producer_messages_published",
            "Messages confirmed by Pub/Sub on the main topic.",
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "olist_producer_events_dead_lettered",
            "Events that failed validation, confirmed on the dead-letter topic.",
            registry=r,
        )
        self.publish_latency = Histogram(
            "olist_producer_publish_latency_seconds",
            "Time from handing a message to the Pub/Sub client to its confirmation.",
            buckets=PUBLISH_LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "olist_producer_retries",
            "Retried calls, by target (api or pubsub).",
            ["target"],
            registry=r,
        )
        self.cursor_sequence = Gauge(
            "olist_producer_cursor_sequence",
            "source_sequence of the last event behind the persisted cursor.",
            registry=r,
        )
        self.head_sequence = Gauge(
            "olist_producer_head_sequence",
            "Latest source_sequence the API reported (head_sequence).",
            registry=r,
        )
        self.lag_events = Gauge(
            "olist_producer_lag_events",
            "head_sequence minus the persisted cursor's sequence.",
            registry=r,
        )
        self.pages_in_flight = Gauge(
            "olist_producer_pages_in_flight",
            "Pages fetched and not yet fully confirmed by Pub/Sub.",
            registry=r,
        )
        self.cursor_ahead_events = Gauge(
            "olist_producer_cursor_ahead_events",
            "How far the persisted cursor is past the API's head (0 unless the source "
            "database was restored or rebuilt behind the cursor: the producer then stops).",
            registry=r,
        )
        self.stuck_seconds = Gauge(
            "olist_producer_stuck_seconds",
            "Seconds spent retrying or waiting on flow control since the last progress.",
            registry=r,
        )
        self.stuck_seconds.set_function(self._stuck_for)
        self.healthy = True
        self.stuck_threshold_seconds = 300.0
        self._cursor = 0
        self._head = 0
        self._stuck_since: float | None = None
        self._stuck_on = ""

    def observe_cursor(self, cursor_sequence: int) -> None:
        self._cursor = cursor_sequence
        self.cursor_sequence.set(cursor_sequence)
        self._observe_distance()

    def observe_head(self, head_sequence: int) -> None:
        self._head = head_sequence
        self.head_sequence.set(head_sequence)
        self._observe_distance()

    def _observe_distance(self) -> None:
        self.lag_events.set(max(0, self._head - self._cursor))
        self.cursor_ahead_events.set(max(0, self._cursor - self._head))

    def note_retry(self, target: str) -> None:
        """A retried call to ``target`` (``api`` or ``pubsub``); may run on any thread."""
        self.retries.labels(target=target).inc()
        self.note_waiting(f"retrying {target}")

    def note_waiting(self, what: str) -> None:
        """The producer waits on ``what``; it counts as stuck until :meth:`note_progress`."""
        if self._stuck_since is None:
            self._stuck_since, self._stuck_on = self._clock(), what

    def note_progress(self) -> None:
        """A page was fetched or confirmed: whatever the producer waited on is over."""
        self._stuck_since = None

    def _stuck_for(self) -> float:
        since = self._stuck_since
        return 0.0 if since is None else self._clock() - since

    def health(self) -> tuple[bool, str]:
        """Whether /healthz answers 200, and the line it answers."""
        if not self.healthy:
            return False, "stopped on error"
        stuck = self._stuck_for()
        if stuck > self.stuck_threshold_seconds:
            return False, (
                f"stuck {self._stuck_on} for {stuck:.0f} s without progress "
                f"(threshold {self.stuck_threshold_seconds:.0f} s)"
            )
        return True, "ok"


class MetricsServer:
    """Serves ``/metrics`` and ``/healthz`` on ``host:port`` (port 0: a free one)."""

    def __init__(self, metrics: ProducerMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics server listening host=%s port=%d", self.host, self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=10)
            while (await asyncio.wait_for(reader.readline(), timeout=10)) not in (
                b"\r\n",
                b"\n",
                b"",
            ):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            if path == "/metrics":
                status, content_type, body = (
                    "200 OK",
                    CONTENT_TYPE_LATEST,
                    generate_latest(self.metrics.registry),
                )
            elif path == "/healthz":
                healthy, line = self.metrics.health()
                status = "200 OK" if healthy else "503 Service Unavailable"
                content_type, body = "text/plain", f"{line}\n".encode()
            else:
                status, content_type, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError) as error:
            log.debug("metrics request abandoned error=%r", error)
        finally:
            writer.close()
