"""BigQuery: freshness of ``order_events``, no rows lost in the last hour, load-job quota.

- Freshness: age of the newest row's Pub/Sub publish time. A quiet source is not a late
  pipeline: when the table holds the newest sequence the producer has published (its cursor;
  the API's head if the producer does not answer), the table is caught up whatever its age.
- Completeness: the job's ``/status`` lists the batches it wrote in the last hour and their
  valid rows (its rejected rows go to ``order_events_rejected`` and are reported, not counted);
  the table must hold at least that many rows of those batches. Fewer is data loss.
- Load jobs created today (UTC) into the table, against the 1,500 per table per day quota.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from health.probes import Probes, Unreachable
from health.result import CheckResult, Status, graded, unmeasured
from health.settings import BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY

COMPONENT = "bigquery"


def check(probes: Probes) -> list[CheckResult]:
    from google.api_core.exceptions import GoogleAPICallError

    settings = probes.settings
    table = f"{settings.gcp_project}.{settings.bigquery_dataset}.{settings.bigquery_table}"
    try:
        return [_freshness(probes, table), _completeness(probes, table), _load_jobs(probes, table)]
    except GoogleAPICallError as error:
        return [unmeasured(COMPONENT, "query", Status.FAIL, f"BigQuery {table}: {error.message}")]


def _rows(probes: Probes, sql: str) -> list[dict[str, Any]]:
    job = probes.bigquery.query(sql, timeout=probes.settings.health_http_timeout_seconds)
    return [dict(row.items()) for row in job.result()]


def _published_sequence(probes: Probes) -> int | None:
    try:
        return int(probes.producer_metrics()["olist_producer_cursor_sequence"])
    except (Unreachable, KeyError):
        pass
    try:
        return probes.api_head()
    except Unreachable:
        return None


def _freshness(probes: Probes, table: str) -> CheckResult:
    (row,) = _rows(
        probes,
        f"SELECT MAX(pubsub_publish_time) AS newest, MAX(source_sequence) AS sequence "
        f"FROM `{table}`",
    )
    if row["newest"] is None:
        return unmeasured(COMPONENT, "freshness", Status.WARN, f"BigQuery {table} is empty")
    newest: datetime = row["newest"]
    age = round(max(0.0, time.time() - newest.timestamp()), 1)
    loaded = int(row["sequence"])
    published = _published_sequence(probes)
    if published is not None and published <= loaded:
        return CheckResult(
            COMPONENT, "freshness", Status.OK, age, "caught up",
            f"BigQuery {table} holds sequence {loaded}, the newest published; "
            f"newest row published {age:g} s ago",
        )  # fmt: skip
    warn_age, fail_age = probes.settings.late_seconds()
    pending = "?" if published is None else str(published - loaded)
    return graded(
        COMPONENT, "freshness", age, warn_age, fail_age, " s",
        f"BigQuery {table} lacks {pending} published sequences; its newest row was published",
    )  # fmt: skip


def _completeness(probes: Probes, table: str) -> CheckResult:
    try:
        last_hour = probes.stream_status()["last_hour"]
    except (Unreachable, KeyError) as error:
        return unmeasured(
            COMPONENT, "rows_last_hour", Status.WARN,
            f"BigQuery rows of the last hour not compared: the job's /status is needed ({error})",
        )  # fmt: skip
    batches: list[int] = last_hour["batch_ids"]
    written = int(last_hour["valid_rows"])
    if not batches:
        return CheckResult(
            COMPONENT, "rows_last_hour", Status.OK, 0, ">= 0",
            "BigQuery: the job wrote no batch in the last hour",
        )  # fmt: skip
    first, last = min(batches), max(batches)
    (row,) = _rows(
        probes,
        f"SELECT COUNT(*) AS n FROM `{table}` WHERE stream_batch_id BETWEEN {first} AND {last}",
    )
    loaded = int(row["n"])
    rejected = int(last_hour["rejected_rows"])
    scope = f"batches {first}-{last} of the last hour; {rejected} rejected rows not counted"
    if loaded < written:
        return CheckResult(
            COMPONENT, "rows_last_hour", Status.FAIL, loaded, f">= {written}",
            f"BigQuery {table} lost {written - loaded} of the {written} rows the job wrote "
            f"({scope})",
        )  # fmt: skip
    return CheckResult(
        COMPONENT, "rows_last_hour", Status.OK, loaded, f">= {written}",
        f"BigQuery {table} holds all {written} rows the job wrote ({scope})",
    )  # fmt: skip


def _load_jobs(probes: Probes, table: str) -> CheckResult:
    from google.api_core.exceptions import GoogleAPICallError

    settings = probes.settings
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        jobs = [
            job
            for job in probes.bigquery.list_jobs(
                min_creation_time=midnight, all_users=True,
                timeout=settings.health_http_timeout_seconds,
            )
            if getattr(job, "job_type", None) == "load"
            and _destination(job) == table
        ]  # fmt: skip
    except GoogleAPICallError as error:
        return unmeasured(
            COMPONENT, "load_jobs_today", Status.OK,
            f"BigQuery load jobs today not measured: listing jobs failed ({error.message})",
        )  # fmt: skip
    quota = BIGQUERY_LOAD_JOBS_PER_TABLE_PER_DAY
    return graded(
        COMPONENT, "load_jobs_today", len(jobs),
        settings.health_load_jobs_warn_fraction * quota,
        settings.health_load_jobs_fail_fraction * quota,
        " jobs", f"BigQuery load jobs into {table} today (quota {quota}/table/day)",
    )  # fmt: skip


def _destination(job: Any) -> str | None:
    destination = getattr(job, "destination", None)
    if destination is None:
        return None
    return f"{destination.project}.{destination.dataset_id}.{destination.table_id}"
