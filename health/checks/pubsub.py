"""Pub/Sub: the streaming subscription's backlog and the dead-letter subscription's count.

On Google, both come from Cloud Monitoring (``subscription/num_undelivered_messages`` and
``subscription/oldest_unacked_message_age``; Monitoring samples every minute, so they lag by
up to about three minutes). The emulator has no Monitoring and its API counts nothing, so
there the backlog is reported as not measured (only that the subscription exists is checked),
and the dead letters are counted by pulling them from the dead-letter subscription and handing
them straight back (ack deadline 0): nothing is acknowledged.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from health.probes import Probes
from health.result import CheckResult, Status, graded, unmeasured

COMPONENT = "pubsub"
MONITORING_URL = "https://monitoring.googleapis.com/v3/projects/{project}/timeSeries"
PEEK_LIMIT = 10_000
"""On the emulator, dead letters are counted up to this many."""


def check(probes: Probes) -> list[CheckResult]:
    settings = probes.settings
    if settings.pubsub_emulator_host:
        return [_subscription_exists(probes), _dead_letters_on_emulator(probes)]
    warn_age, fail_age = settings.late_seconds()
    subscription = settings.pubsub_subscription
    results = []
    age = _latest_metric(probes, subscription, "oldest_unacked_message_age")
    backlog = _latest_metric(probes, subscription, "num_undelivered_messages")
    if age is None or backlog is None:
        results.append(
            unmeasured(
                COMPONENT, "backlog", Status.WARN,
                f"Pub/Sub backlog of {subscription}: no Cloud Monitoring sample in 10 minutes",
            )
        )  # fmt: skip
    else:
        results.append(
            graded(
                COMPONENT, "oldest_unacked_age", age, warn_age, fail_age, " s",
                f"Pub/Sub {subscription}: {int(backlog)} undelivered, oldest unacked for",
            )
        )  # fmt: skip
    dead_letter_subscription = settings.pubsub_dead_letter_subscription
    dead = _latest_metric(probes, dead_letter_subscription, "num_undelivered_messages")
    if dead is None:
        results.append(
            unmeasured(
                COMPONENT, "dead_letters", Status.WARN,
                f"Pub/Sub dead letters of {settings.pubsub_dead_letter_subscription}: "
                "no Cloud Monitoring sample in 10 minutes",
            )
        )  # fmt: skip
    else:
        results.append(_graded_dead_letters(probes, int(dead)))
    return results


def _graded_dead_letters(probes: Probes, count: int, prefix: str = "") -> CheckResult:
    settings = probes.settings
    return graded(
        COMPONENT, "dead_letters", count,
        settings.health_dead_letters_warn, settings.health_dead_letters_fail, " messages",
        f"Pub/Sub dead letters waiting on {settings.pubsub_dead_letter_subscription}{prefix}",
    )  # fmt: skip


def _subscription_path(probes: Probes, name: str) -> str:
    return f"projects/{probes.settings.gcp_project}/subscriptions/{name}"


def _subscription_exists(probes: Probes) -> CheckResult:
    from google.api_core.exceptions import GoogleAPICallError

    name = probes.settings.pubsub_subscription
    timeout = probes.settings.health_http_timeout_seconds
    try:
        probes.subscriber.get_subscription(
            request={"subscription": _subscription_path(probes, name)}, timeout=timeout
        )
    except GoogleAPICallError as error:
        return unmeasured(
            COMPONENT, "backlog", Status.FAIL, f"Pub/Sub subscription {name}: {error.message}"
        )
    return unmeasured(
        COMPONENT, "backlog", Status.OK,
        f"Pub/Sub backlog of {name} not measured: the emulator has no Cloud Monitoring "
        "(subscription exists)",
    )  # fmt: skip


def _dead_letters_on_emulator(probes: Probes) -> CheckResult:
    from google.api_core.exceptions import GoogleAPICallError

    path = _subscription_path(probes, probes.settings.pubsub_dead_letter_subscription)
    timeout = probes.settings.health_http_timeout_seconds
    ack_ids: set[str] = set()
    subscriber = probes.subscriber
    try:
        while len(ack_ids) < PEEK_LIMIT:
            with warnings.catch_warnings():
                # Deprecated on Google, where this path never runs; the emulator honours it
                # and answers at once instead of holding the pull open until the timeout.
                warnings.simplefilter("ignore", DeprecationWarning)
                response = subscriber.pull(
                    request={
                        "subscription": path,
                        "max_messages": 1000,
                        "return_immediately": True,
                    },
                    timeout=timeout,
                )
            received = {message.ack_id for message in response.received_messages}
            if not received - ack_ids:
                break
            ack_ids |= received
        if ack_ids:
            subscriber.modify_ack_deadline(
                request={
                    "subscription": path,
                    "ack_ids": sorted(ack_ids),
                    "ack_deadline_seconds": 0,
                },
                timeout=timeout,
            )
    except GoogleAPICallError as error:
        return unmeasured(
            COMPONENT, "dead_letters", Status.FAIL,
            f"Pub/Sub dead-letter subscription {path}: {error.message}",
        )  # fmt: skip
    capped = " (counted up to the peek limit)" if len(ack_ids) >= PEEK_LIMIT else ""
    return _graded_dead_letters(probes, len(ack_ids), capped)


def _latest_metric(probes: Probes, subscription: str, metric: str) -> float | None:
    """The newest Cloud Monitoring sample of ``pubsub.googleapis.com/subscription/<metric>``."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/monitoring.read"])
    end = datetime.now(UTC)
    params: dict[str, Any] = {
        "filter": f'metric.type = "pubsub.googleapis.com/subscription/{metric}" AND '
        f'resource.labels.subscription_id = "{subscription}"',
        "interval.startTime": (end - timedelta(minutes=10)).isoformat(),
        "interval.endTime": end.isoformat(),
    }
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    response = session.get(
        MONITORING_URL.format(project=probes.settings.gcp_project),
        params=params,
        timeout=probes.settings.health_http_timeout_seconds,
    )
    response.raise_for_status()
    series = response.json().get("timeSeries", [])
    if not series:
        return None
    newest = series[0]["points"][0]["value"]  # points come newest first
    return float(newest.get("int64Value", newest.get("doubleValue", 0)))
