"""pipeline_health: every 5 minutes, check each stage of the pipeline; fail loudly, naming it.

One task per component (source API, producer, Pub/Sub, streaming job, BigQuery, Cloud Storage),
so the grid shows which stage is red. Each task runs the checks of ``olist health`` for its
component (the ``health`` package; the Airflow image installs the project's ``health`` extra)
and fails when one of them fails; warnings are logged. No retries: a retry would hide a failure
for a whole interval, and the next run is 5 minutes away anyway.

Configuration, none of it in this file:
- Airflow Variable ``olist_health_settings``: JSON object of ``OLIST_*`` settings (e.g.
  ``{"OLIST_API_URL": "http://source-api:8000", "OLIST_TRIGGER_INTERVAL": "5 minutes"}``);
  the worker's environment gives what it does not set (docs/operations/health.md).
- Airflow Variable ``olist_health_webhook_url`` (or the environment's
  ``OLIST_HEALTH_WEBHOOK_URL``): a Slack-compatible incoming webhook; a failed task posts its
  failed checks there as ``{"text": ...}``. Keep it in a secrets backend: it is a credential.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Variable, dag, task

log = logging.getLogger(__name__)

COMPONENTS = ("source_api", "producer", "pubsub", "streaming", "bigquery", "storage")
"""health.run.COMPONENTS, repeated so that parsing this file imports nothing of the project."""
WEBHOOK_TIMEOUT_SECONDS = 10


class HealthCheckFailed(Exception):
    """A component failed its checks; the message lists the failed checks."""


def notify_failure(context: dict[str, Any]) -> None:
    """Log the failed checks and post them to the webhook, when one is configured."""
    task_instance = context["ti"]
    text = (
        f"pipeline_health: {task_instance.task_id} failed "
        f"(run {context.get('run_id')}): {context.get('exception')}"
    )
    log.error(text)
    url = Variable.get("olist_health_webhook_url", default=None)
    if not url:
        from health.settings import HealthSettings

        secret = HealthSettings().health_webhook_url
        if secret is None:
            return
        url = secret.get_secret_value()
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS):
            pass
    except OSError as error:  # the failure is logged above; the alert must not hide it
        log.error("pipeline_health: webhook post failed: %s", error)


def run_component(component: str) -> list[dict[str, Any]]:
    """The checks of ``component``; raises :class:`HealthCheckFailed` when one fails."""
    from health.result import Status
    from health.run import run_checks
    from health.settings import HealthSettings

    overrides = Variable.get("olist_health_settings", default=None, deserialize_json=True)
    settings = HealthSettings.from_variables(overrides or {})
    results = run_checks(settings, [component])
    failed = [result.message for result in results if result.status is Status.FAIL]
    if failed:
        raise HealthCheckFailed("; ".join(failed))
    return [result.as_dict() for result in results]


@dag(
    dag_id="pipeline_health",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    default_args={
        "retries": 0,
        "execution_timeout": timedelta(minutes=2),
        "on_failure_callback": notify_failure,
    },
    tags=["olist", "health"],
    doc_md=__doc__,
)
def pipeline_health() -> None:
    for component in COMPONENTS:
        task(task_id=component)(run_component)(component)


pipeline_health()
