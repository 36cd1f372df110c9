"""The Cloud Storage and BigQuery clients of the analytics commands, from their settings.

Against an emulator (``OLIST_BIGQUERY_API_ENDPOINT`` set) BigQuery is called without
credentials, as the streaming job does; Cloud Storage follows ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analytics.settings import AnalyticsSettings

if TYPE_CHECKING:
    from google.cloud import bigquery, storage


def bigquery_client(settings: AnalyticsSettings) -> bigquery.Client:
    """A BigQuery client for the settings' project (and emulator endpoint, if any)."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    if settings.bigquery_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=settings.gcp_project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=settings.bigquery_api_endpoint),
            location=settings.bigquery_location,
        )
    return bigquery.Client(project=settings.gcp_project, location=settings.bigquery_location)


def storage_client(settings: AnalyticsSettings) -> storage.Client:
    """A Cloud Storage client for the settings' project (``STORAGE_EMULATOR_HOST`` honoured)."""
    from google.cloud import storage

    return storage.Client(project=settings.gcp_project)
