"""Prometheus metrics of the producer and the small HTTP server exposing them.

``GET /metrics`` answers the Prometheus text format, ``GET /healthz`` answers 200 while the
pipeline runs and 503 once it has stopped on an error. The server is a few lines on
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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

PUBLISH_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class ProducerMetrics:
    """Every metric of one producer, in its own registry (tests may run several)."""

    def __init__(self) -> None:
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
        self.caught_up_time = Gauge(
            "olist_producer_caught_up_timestamp_seconds",
            "Unix time the persisted cursor last reached head_sequence (or the process started): "
            "while lag_events > 0, now minus this is how long the producer has been behind.",
            registry=r,
        )
        self.caught_up_time.set(time.time())
        self.pages_in_flight = Gauge(
            "olist_producer_pages_in_flight",
            "Pages fetched and not yet fully confirmed by Pub/Sub.",
            registry=r,
        )
        self.healthy = True
        self._cursor = 0
        self._head = 0

    def observe_cursor(self, cursor_sequence: int) -> None:
        self._cursor = cursor_sequence
        self.cursor_sequence.set(cursor_sequence)
        self._observe_lag()

    def observe_head(self, head_sequence: int) -> None:
        self._head = head_sequence
        self.head_sequence.set(head_sequence)
        self._observe_lag()

    def _observe_lag(self) -> None:
        lag = max(0, self._head - self._cursor)
        self.lag_events.set(lag)
        if lag == 0:
            self.caught_up_time.set(time.time())


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
                healthy = self.metrics.healthy
                status = "200 OK" if healthy else "503 Service Unavailable"
                content_type, body = "text/plain", b"ok\n" if healthy else b"stopped on error\n"
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
