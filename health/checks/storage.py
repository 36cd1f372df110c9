"""Cloud Storage: the lake holds every batch the job wrote in the last hour, and grows.

The lake is partitioned by purchase date, so "today's partition" of the events is the set of
objects written today, whatever their dates: the job records each batch in a manifest
(``<prefix>/_batches/query=<query id>/batch=<id>.json``: its objects and rows). The check
reads the manifests of the batches ``/status`` says the running query wrote in the last hour
and compares their rows with the valid rows the job reported: a missing manifest or fewer rows
fails.
"""

from __future__ import annotations

import json

from health.probes import Probes, Unreachable
from health.result import CheckResult, Status, unmeasured

COMPONENT = "storage"


def check(probes: Probes) -> list[CheckResult]:
    from google.api_core.exceptions import GoogleAPICallError

    settings = probes.settings
    lake = f"gs://{settings.lake_bucket}/{settings.lake_events_prefix}"
    try:
        status = probes.stream_status()
        last_hour = status["last_hour"]
        query_id = status["query_id"]
    except (Unreachable, KeyError) as error:
        return [
            unmeasured(
                COMPONENT, "lake_rows_last_hour", Status.WARN,
                f"lake {lake} not compared: the job's /status is needed ({error})",
            )
        ]  # fmt: skip
    batches: list[int] = last_hour["batch_ids"]
    written = int(last_hour["valid_rows"])
    if not batches:
        return [
            CheckResult(
                COMPONENT, "lake_rows_last_hour", Status.OK, 0, ">= 0",
                f"lake {lake}: the job wrote no batch in the last hour",
            )
        ]  # fmt: skip
    first, last = min(batches), max(batches)
    # Batch ids restart with a new checkpoint: the manifests are scoped by the query's id.
    manifests = f"{settings.lake_events_prefix}/_batches/query={query_id}/batch="
    try:
        blobs = list(
            probes.storage.list_blobs(
                settings.lake_bucket,
                prefix=manifests,
                start_offset=f"{manifests}{first:012d}",
                end_offset=f"{manifests}{last + 1:012d}",
                timeout=settings.health_http_timeout_seconds,
            )
        )
        rows = sum(
            int(
                json.loads(blob.download_as_bytes(timeout=settings.health_http_timeout_seconds))[
                    "rows"
                ]
            )
            for blob in blobs
        )
    except GoogleAPICallError as error:
        return [
            unmeasured(
                COMPONENT, "lake_rows_last_hour", Status.FAIL, f"lake {lake}: {error.message}"
            )
        ]
    found = len(blobs)
    scope = f"{found} of {len(batches)} batch manifests of the last hour ({first}-{last})"
    if rows < written:
        return [
            CheckResult(
                COMPONENT, "lake_rows_last_hour", Status.FAIL, rows, f">= {written}",
                f"lake {lake} lost {written - rows} of the {written} rows the job wrote ({scope})",
            )
        ]  # fmt: skip
    return [
        CheckResult(
            COMPONENT, "lake_rows_last_hour", Status.OK, rows, f">= {written}",
            f"lake {lake} grew by {rows} rows in the last hour ({scope})",
        )
    ]  # fmt: skip
