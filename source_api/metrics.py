"""Prometheus metrics of the source API, recorded by a small ASGI middleware.

Each app owns its :class:`ApiMetrics` (its own ``CollectorRegistry``), so several apps in one
process (tests) do not collide. Exposed at ``/metrics``:

- ``olist_api_requests_total{method, route, status}``: answered requests. ``route`` is the
  route template (``/v1/order-events``), or ``unmatched`` for unknown paths, so the label set
  stays bounded whatever clients send.
- ``olist_api_request_duration_seconds{method, route}``: latency histogram, time to the last
  body byte.
- ``olist_api_events_served_total``: events returned by ``/v1/order-events``.
- ``olist_api_pool_connections{state}``: asyncpg pool connections, ``in_use`` and ``idle``.
- ``olist_api_read_ahead_total{outcome}``: pages by read-ahead outcome (``hit``, ``miss``,
  ``discarded``, ``failed``; see :mod:`source_api.read_ahead`).
- ``olist_api_feed_lag_events``: events committed in ``order_items`` but not yet in the
  pre-rendered feed, measured after each refresh (see :mod:`source_api.feed_refresher`).
- ``olist_api_feed_refresh_duration_seconds``: histogram of one refresh call.
- ``olist_api_feed_events_refreshed_total``: events this process rendered into the feed.
- ``olist_api_feed_refresh_errors_total{reason}``: failed refreshes (``database_unavailable``,
  ``database_not_initialised``, ``unexpected``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages of 5000 events take tens of milliseconds; the top buckets catch a stalled database.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The metric objects of one app and the registry ``/metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "olist_api_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "olist_api_request_duration_seconds",
            "Time from request to last response byte, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_served = Counter(
            "olist_api_events_served",
            "Order-item events returned by /v1/order-events.",
            registry=self.registry,
        )
        self.read_ahead = Counter(
            "olist_api_read_ahead",
            "Event pages by read-ahead outcome (hit, miss, discarded, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.feed_lag = Gauge(
            "olist_api_feed_lag_events",
            "Events in order_items not yet in the pre-rendered feed, after the last refresh.",
            registry=self.registry,
        )
        self.feed_refresh_duration = Histogram(
            "olist_api_feed_refresh_duration_seconds",
            "Duration of one call of olist.refresh_order_event_feed.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.feed_events_refreshed = Counter(
            "olist_api_feed_events_refreshed",
            "Events this process rendered into the pre-rendered feed.",
            registry=self.registry,
        )
        self.feed_refresh_errors = Counter(
            "olist_api_feed_refresh_errors",
            "Failed feed refreshes, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.pool_connections = Gauge(
            "olist_api_pool_connections",
            "asyncpg pool connections by state (in_use, idle).",
            ["state"],
            registry=self.registry,
        )

    def watch_pool(self, size: Callable[[], int], idle: Callable[[], int]) -> None:
        """Report the pool's connections at every scrape."""
        self.pool_connections.labels("idle").set_function(idle)
        self.pool_connections.labels("in_use").set_function(lambda: size() - idle())


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
