"""Source API: ``/readyz`` (the API answers and reaches its database) within the timeout."""

from __future__ import annotations

import time

from health.probes import Probes, Unreachable, http_get
from health.result import CheckResult, Status, unmeasured

COMPONENT = "source_api"


def check(probes: Probes) -> list[CheckResult]:
    timeout = probes.settings.health_http_timeout_seconds
    url = f"{probes.settings.api_url.rstrip('/')}/readyz"
    started = time.monotonic()
    try:
        http_get(url, timeout)
    except Unreachable as error:
        return [unmeasured(COMPONENT, "ready", Status.FAIL, f"source API not ready: {error}")]
    seconds = round(time.monotonic() - started, 3)
    return [
        CheckResult(
            COMPONENT, "ready", Status.OK, seconds, f"<= {timeout:g} s",
            f"source API ready at {url} in {seconds:g} s",
        )
    ]  # fmt: skip
