"""``olist dashboard --serve``: serve the dashboard and rebuild it from BigQuery on an interval.

The page is rebuilt every ``OLIST_DASHBOARD_REFRESH_SECONDS`` in a background thread and
reloads itself on the same interval (a ``<meta http-equiv="refresh">``), so an open browser
follows the stream. A failed rebuild is logged and the last page stays served.
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


def serve_dashboard(settings: AnalyticsSettings, out: Path, port: int) -> None:
    """Build once, then serve ``out`` on ``port`` until SIGTERM or Ctrl-C, rebuilding."""
    page = build_dashboard(settings, out, settings.dashboard_refresh_seconds)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    stopped = threading.Event()
    rebuilder = threading.Thread(
        target=_rebuild_until_stopped, args=(settings, out, stopped), daemon=True
    )
    rebuilder.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"dashboard {page} served at http://127.0.0.1:{port}/ (rebuilt every "
          f"{settings.dashboard_refresh_seconds:g} s)", flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C: the operator's way to stop, like SIGTERM
        log.info("dashboard server stopped by Ctrl-C")
    finally:
        stopped.set()
        server.server_close()
        rebuilder.join(timeout=5)
