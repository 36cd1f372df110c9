"""The job's sinks in the cloud: its clients, its bucket and BigQuery tables, and creating them.

``olist setup`` creates them (:func:`create_sink_resources`, idempotent); the job only checks
that they exist (:mod:`streaming.preflight`), so it needs no project-level rights at run time.
The tables come from the single event schema (``schemas.warehouse``, the same fields as
``schemas/bigquery/*.json``). Clients follow the settings: ``STORAGE_EMULATOR_HOST`` and
``OLIST_BIGQUERY_API_ENDPOINT`` for emulators (no credentials), Application Default
Credentials otherwise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from streaming.settings import StreamSettings

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

    from streaming.bigquery_loader import BigQueryTable

log = logging.getLogger(__name__)


def storage_client(settings: StreamSettings) -> storage.Client:
    """The Cloud Storage client of the lake (``STORAGE_EMULATOR_HOST`` is honoured by it)."""
    from google.cloud import storage

    return storage.Client(project=settings.gcp_project)


def bigquery_client(settings: StreamSettings) -> bigquery.Client:
    """The BigQuery client: the emulator's endpoint without credentials, or Google with ADC."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    if not settings.bigquery_api_endpoint:
        return bigquery.Client(project=settings.gcp_project, location=settings.bigquery_location)
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=settings.gcp_project,
        client_options=ClientOptions(api_endpoint=settings.bigquery_api_endpoint),
        credentials=AnonymousCredentials(),
        location=settings.bigquery_location,
    )


def destination_tables(settings: StreamSettings, client: bigquery.Client) -> list[BigQueryTable]:
    """The valid events' history and current-state tables and the rejected rows' table, as the
    job writes them."""
    from schemas import warehouse
    from streaming.bigquery_loader import BigQueryTable

    return [
        *(
            BigQueryTable(
                client,
                settings.bigquery_dataset,
                table,
                warehouse.order_events_table_fields(),
                partition_field=warehouse.PARTITION_FIELD,
                clustering_fields=warehouse.CLUSTERING_FIELDS,
                location=settings.bigquery_location,
            )
            for table in (settings.bigquery_table, settings.bigquery_current_table)
        ),
        BigQueryTable(
            client,
            settings.bigquery_dataset,
            settings.bigquery_rejected_table,
            warehouse.REJECTED_FIELDS,
            partition_field="rejected_date",
            location=settings.bigquery_location,
        ),
    ]


def create_sink_resources(settings: StreamSettings) -> list[str]:
    """Create the lake bucket, the dataset and the tables where missing; returns their names.

    The bucket is made in the dataset's location (``OLIST_BIGQUERY_LOCATION``): BigQuery loads
    from a bucket in the same location.
    """
    from google.api_core.exceptions import Conflict

    storage = storage_client(settings)
    try:
        storage.create_bucket(settings.lake_bucket, location=settings.bigquery_location)
        log.info("bucket created bucket=gs://%s", settings.lake_bucket)
    except Conflict:
        log.info("bucket exists bucket=gs://%s", settings.lake_bucket)
    names = [f"gs://{settings.lake_bucket}"]
    with bigquery_client(settings) as client:
        for table in destination_tables(settings, client):
            table.ensure_exists()
            names.append(table.table_id)
    return names
