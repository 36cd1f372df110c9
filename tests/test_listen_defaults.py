"""Every server binds the loopback interface unless configured otherwise (issue 14 §1).

The source API, the producer's /metrics + /healthz and the streaming job's /metrics + /status
serve nothing to other hosts by default; the Kubernetes manifests set 0.0.0.0 where a probe or
a scraper needs it.
"""

from __future__ import annotations

import pytest

from producer.settings import ProducerSettings
from source_api.settings import ApiSettings
from streaming.settings import StreamSettings


def test_servers_listen_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIST_API_AUTH_DISABLED", "true")
    hosts = {
        "api": ApiSettings().api_host,
        "producer": ProducerSettings().metrics_host,
        "stream": StreamSettings().metrics_host,
    }
    assert hosts == {"api": "127.0.0.1", "producer": "127.0.0.1", "stream": "127.0.0.1"}
