"""What the checks read from the running components, each read at most once per run.

Several checks need the same answer (the job's ``/status`` feeds four of them, the producer's
cursor two): a :class:`Probes` reads each source once and keeps the answer, or the error, for
the run. Clients of Google's services are created on first use, for the emulators when their
variables are set.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import cached_property
from typing import TYPE_CHECKING, Any

from health.settings import HealthSettings

if TYPE_CHECKING:
    from google.cloud import bigquery, storage


class Unreachable(Exception):
    """A component did not answer (refused, timed out, or answered an error status)."""


def http_get(url: str, timeout: float, headers: dict[str, str] | None = None) -> bytes:
    """The body of ``GET url``; :class:`Unreachable` on any error, with a short reason."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        raise Unreachable(f"{url} answered HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"{url} did not answer: {reason}") from error


class Probes:
    """Lazily read, then remembered: the answers of one health run."""

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        self._answers: dict[str, Any] = {}

    def _once(self, key: str, read: Any) -> Any:
        if key not in self._answers:
            try:
                self._answers[key] = read()
            except Unreachable as error:
                self._answers[key] = error
        answer = self._answers[key]
        if isinstance(answer, Unreachable):
            raise answer
        return answer

    def stream_status(self) -> dict[str, Any]:
        """The streaming job's ``/status`` document."""

        def read() -> dict[str, Any]:
            url = self.settings.health_stream_status_url
            status: dict[str, Any] = json.loads(
                http_get(url, self.settings.health_http_timeout_seconds)
            )
            return status

        result: dict[str, Any] = self._once("stream_status", read)
        return result

    def producer_metrics(self) -> dict[str, float]:
        """The producer's Prometheus samples, by name (unlabelled ones)."""

        def read() -> dict[str, float]:
            from prometheus_client.parser import text_string_to_metric_families

            url = self.settings.health_producer_metrics_url
            text = http_get(url, self.settings.health_http_timeout_seconds).decode()
            return {
                sample.name: sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if not sample.labels
            }

        result: dict[str, float] = self._once("producer_metrics", read)
        return result

    def api_head(self) -> int:
        """The newest ``source_sequence`` the source API serves (``head_sequence`` of a page)."""

        def read() -> int:
            headers = {}
            if self.settings.api_key is not None:
                headers["X-API-Key"] = self.settings.api_key.get_secret_value()
            url = f"{self.settings.api_url.rstrip('/')}/v1/order-events?limit=1"
            page = json.loads(http_get(url, self.settings.health_http_timeout_seconds, headers))
            return int(page["head_sequence"])

        result: int = self._once("api_head", read)
        return result

    @cached_property
    def bigquery(self) -> bigquery.Client:
        from google.cloud import bigquery

        endpoint = self.settings.bigquery_api_endpoint
        if endpoint is None:
            return bigquery.Client(project=self.settings.gcp_project)
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=self.settings.gcp_project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )

    @cached_property
    def subscriber(self) -> Any:
        """A Pub/Sub ``SubscriberClient``; on the emulator of the settings, not of the
        environment (the client alone would only read ``PUBSUB_EMULATOR_HOST``)."""
        from google.cloud import pubsub_v1

        host = self.settings.pubsub_emulator_host
        if host is None:
            return pubsub_v1.SubscriberClient()
        import grpc
        from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

        return pubsub_v1.SubscriberClient(
            transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
        )

    @cached_property
    def storage(self) -> storage.Client:
        from google.cloud import storage

        endpoint = self.settings.storage_emulator_host
        if endpoint is None:
            return storage.Client(project=self.settings.gcp_project)
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=self.settings.gcp_project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )

    def close(self) -> None:
        for name in ("bigquery", "storage", "subscriber"):
            client = self.__dict__.pop(name, None)
            if client is not None and hasattr(client, "close"):
                client.close()
