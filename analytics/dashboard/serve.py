"""``olist dashboard --serve``: serve the dashboard and rebuild it from BigQuery on an interval.

The page is rebuilt every ``OLIST_DASHBOARD_REFRESH_SECONDS`` in a background thread and
reloads itself on the same interval (a ``<meta http-equiv="refresh">``), so an open browser
follows the stream. A failed rebuild is logged and the last page stays served. ``/healthz``
answers ``ok`` while the server runs (the Deployment's probes); the port opens only after the
first build, so a pod is not ready before it has a page to serve.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from analytics.dashboard.build import build_dashboard
from analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)


def _rebuild_until_stopped(
    settings: AnalyticsSettings, out: Path, stopped: threading.Event
) -> None:
    while not stopped.wait(settings.dashboard_refresh_seconds):
        try:
            build_dashboard(settings, out, settings.dashboard_refresh_seconds)
            log.info("dashboard rebuilt path=%s", out / "index.html")
        except Exception:  # the next interval tries again; the last page stays served
            log.exception("dashboard rebuild failed, serving the previous page")


class DashboardRequestHandler(SimpleHTTPRequestHandler):
    """The folder's files, plus ``/healthz`` (200 ``ok``) for liveness and readiness probes."""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("dashboard request " + format, *args)  # probes every few seconds: not INFO


def dashboard_server(out: Path, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server of ``out`` on ``host:port`` (port 0: any free one), not yet serving."""
    handler = functools.partial(DashboardRequestHandler, directory=str(out))
    return ThreadingHTTPServer((host, port), handler)


def serve_dashboard(settings: AnalyticsSettings, out: Path, port: int) -> None:
    """Build once, then serve ``out`` on ``port`` until SIGTERM or Ctrl-C, rebuilding."""
    page = build_dashboard(settings, out, settings.dashboard_refresh_seconds)
    server = dashboard_server(out, settings.dashboard_host, port)
    stopped = threading.Event()
    rebuilder = threading.Thread(
        target=_rebuild_until_stopped, args=(settings, out, stopped), daemon=True
    )
    rebuilder.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"dashboard {page} served at http://{settings.dashboard_host}:{port}/ (rebuilt every "
          f"{settings.dashboard_refresh_seconds:g} s)", flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C: the operator's way to stop, like SIGTERM
        log.info("dashboard server stopped by Ctrl-C")
    finally:
        stopped.set()
        server.server_close()
        rebuilder.join(timeout=5)
