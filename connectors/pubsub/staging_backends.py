"""The staging backend for option ``stagingLocation``: the one place that knows both.

``gs://bucket/prefix`` -> :class:`~connectors.pubsub.staging_gcs.GcsStagingArea`; a filesystem
path -> :class:`~connectors.pubsub.staging_local.LocalStagingArea`. Callers get a
:class:`~connectors.pubsub.staging.StagingArea` and never ask which.
"""

from __future__ import annotations

from connectors.pubsub.staging import StagingArea, is_object_store_location


def open_staging_area(
    location: str,
    *,
    endpoint: str | None = None,
    timeout_seconds: float = 60.0,
    retry_seconds: float = 300.0,
) -> StagingArea:
    """The staging backend for option ``stagingLocation`` (already checked by the options).

    ``endpoint`` (a Cloud Storage emulator's URL), ``timeout_seconds`` (of one request) and
    ``retry_seconds`` (retries with exponential back-off, in all) apply to ``gs://`` only.
    """
    if is_object_store_location(location):
        from connectors.pubsub.staging_gcs import GcsStagingArea

        return GcsStagingArea(
            location,
            endpoint=endpoint,
            timeout_seconds=timeout_seconds,
            retry_seconds=retry_seconds,
        )
    from connectors.pubsub.staging_local import LocalStagingArea

    return LocalStagingArea(location)
