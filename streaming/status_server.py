"""HTTP endpoints of the job: ``/metrics``, ``/status`` (JSON), ``/healthz``, ``/readyz``.

``/healthz`` answers 200 while the query runs without error and 503 otherwise, so a
Kubernetes liveness probe restarts a job whose query died. ``/readyz`` also answers 503 while
a micro-batch has run longer than ``OLIST_BATCH_STUCK_SECONDS`` (a BigQuery job that hangs):
a readiness probe and an alert show it without restarting the job mid-batch; and while the
start-up warm-up runs (:mod:`streaming.warmup`), before the query starts.

Not there for speed: prometheus_client's ``start_http_server`` would serve the metrics alone
(on every path, always 200), and the job needs ``/status`` and a ``/healthz`` that can fail
on the same port. The standard library's threaded server is enough for a few requests a
minute; the metrics are still rendered by prometheus_client (``generate_latest``).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streaming.metrics import StreamStatus

log = logging.getLogger(__name__)


def _handler(status: StreamStatus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                status.refresh_source_stats()
                status.running_batch()
                self._send(200, generate_latest(status.metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/status":
                body = json.dumps(status.snapshot(), indent=2).encode()
                self._send(200, body, "application/json")
            elif path == "/readyz":
                ready = status.snapshot()["ready"]
                self._send(
                    200 if ready else 503,
                    b"ok\n" if ready else b"not running, warming up, or a batch is stuck\n",
                    "text/plain",
                )
            elif path == "/healthz":
                healthy = status.snapshot()["healthy"]
                self._send(
                    200 if healthy else 503,
                    b"ok\n" if healthy else b"query not running\n",
                    "text/plain",
                )
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("status http " + format, *args)

    return Handler


class StatusServer:
    """Serves the endpoints from a daemon thread."""

    def __init__(self, status: StreamStatus, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(status))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="status-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> StatusServer:
        self._thread.start()
        log.info("status server listening port=%s", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
