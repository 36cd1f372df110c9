"""Start-up check: the subscription, the bucket, the dataset and the tables the job needs exist.

Run before Spark starts (:func:`check_resources`), so a job started before ``olist setup``
stops within seconds with one line that names every missing resource and the command that
creates it, instead of failing its first batch a minute later inside a long Spark error.
The job creates none of them itself: at run time it needs no right to create resources.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from streaming.settings import StreamSettings

log = logging.getLogger(__name__)

SETUP_COMMAND = "olist setup"
CHECK_TIMEOUT_SECONDS = 30.0


class PreflightFailed(RuntimeError):
    """A resource the job needs is missing or cannot be looked up; the message says which."""


def _exists(lookup: Callable[[], object], what: str) -> bool:
    """Whether ``lookup`` finds its resource; any answer but "found"/"not found" is fatal."""
    from google.api_core.exceptions import GoogleAPICallError, NotFound
    from requests.exceptions import RequestException

    try:
        lookup()
    except NotFound:
        return False
    except (GoogleAPICallError, RequestException) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise PreflightFailed(
            f"cannot look up {what}: {type(error).__name__}: {first_line} "
            "(check the endpoint variables, credentials and OLIST_GCP_PROJECT)"
        ) from error
    return True


def missing_resources(settings: StreamSettings) -> list[str]:
    """Every resource the job reads or writes that does not exist, as a readable name."""
    from google.cloud import pubsub_v1

    from streaming.resources import bigquery_client, destination_tables, storage_client

    missing: list[str] = []
    subscription = settings.subscription_path
    with pubsub_v1.SubscriberClient() as subscriber:
        if not _exists(
            lambda: subscriber.get_subscription(
                subscription=subscription, timeout=CHECK_TIMEOUT_SECONDS, retry=None
            ),
            f"Pub/Sub subscription {subscription}",
        ):
            missing.append(f"Pub/Sub subscription {subscription}")
    storage = storage_client(settings)
    bucket = f"gs://{settings.lake_bucket}"
    if not _exists(
        lambda: storage.get_bucket(settings.lake_bucket, timeout=CHECK_TIMEOUT_SECONDS, retry=None),
        f"Cloud Storage bucket {bucket}",
    ):
        missing.append(f"Cloud Storage bucket {bucket}")
    with bigquery_client(settings) as client:
        dataset = f"{settings.gcp_project}.{settings.bigquery_dataset}"
        if not _exists(
            lambda: client.get_dataset(dataset, timeout=CHECK_TIMEOUT_SECONDS, retry=None),
            f"BigQuery dataset {dataset}",
        ):
            return [*missing, f"BigQuery dataset {dataset} and its tables"]
        for table in destination_tables(settings, client):
            if not _exists(
                partial(
                    client.get_table, table.table_id, timeout=CHECK_TIMEOUT_SECONDS, retry=None
                ),
                f"BigQuery table {table.table_id}",
            ):
                missing.append(f"BigQuery table {table.table_id}")
    return missing


def check_resources(settings: StreamSettings) -> None:
    """Raise :class:`PreflightFailed` naming what is missing and how to create it."""
    missing = missing_resources(settings)
    if missing:
        raise PreflightFailed(
            f"missing {'; '.join(missing)}: create them with `{SETUP_COMMAND}` "
            "(same OLIST_* variables as this job)"
        )
    log.info(
        "preflight ok subscription=%s bucket=gs://%s dataset=%s",
        settings.subscription_path,
        settings.lake_bucket,
        settings.bigquery_dataset,
    )
