"""The server of ``olist dashboard --serve``: the built page, and ``/healthz`` for probes."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.dashboard.serve import dashboard_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<html>the page</html>")
    server = dashboard_server(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_server_answers_the_page_and_healthz_and_404_elsewhere(served: str) -> None:
    assert get(f"{served}/") == (200, "<html>the page</html>")
    assert get(f"{served}/healthz") == (200, "ok\n")
    assert get(f"{served}/readyz")[0] == 404
