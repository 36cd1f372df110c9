"""Pub/Sub calls of the source: pull, acknowledge and modifyAckDeadline, with their retries.

Everything here runs on the driver, in the long-lived Python process Spark keeps per query.
The client is created on first use and never pickled.

Limits honoured (https://cloud.google.com/pubsub/quotas#resource_limits):

* an Acknowledge or ModifyAckDeadline request may be at most 512 KiB; ack ids are about
  150-200 bytes on the real service, so requests carry at most
  :data:`MAX_ACK_IDS_PER_REQUEST` ids and :data:`MAX_ACK_REQUEST_BYTES` bytes of ids;
* a Pull returns at most 1,000 messages;
* an ack deadline is between 10 and 600 seconds.

Acknowledging an ack id whose lease has expired is not an error worth stopping a query for:
the message has been (or will be) redelivered and deduplicated downstream. The emulator
rejects a whole request with ``INVALID_ARGUMENT`` when one id is unknown, so a rejected
request is split in halves until the stale ids are isolated and logged.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from connectors.pubsub.errors import SubscriberError

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import SubscriberClient
    from google.protobuf.timestamp_pb2 import Timestamp

log = logging.getLogger(__name__)

MAX_ACK_IDS_PER_REQUEST = 2500
MAX_ACK_REQUEST_BYTES = 400 * 1024  # leaves headroom under the 512 KiB request limit
RELEASE_DEADLINE_SECONDS = 0  # modifyAckDeadline(0) is Pub/Sub's "nack": redeliver now


def chunk_ack_ids(
    ack_ids: Sequence[str],
    max_ids: int = MAX_ACK_IDS_PER_REQUEST,
    max_bytes: int = MAX_ACK_REQUEST_BYTES,
) -> Iterator[list[str]]:
    """Split ack ids into request-sized chunks (count and byte limits both respected)."""
    chunk: list[str] = []
    size = 0
    for ack_id in ack_ids:
        # Each repeated string costs its length plus a tag and a length varint (< 8 bytes).
        cost = len(ack_id) + 8
        if chunk and (len(chunk) >= max_ids or size + cost > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(ack_id)
        size += cost
    if chunk:
        yield chunk


class PubsubMessage(Protocol):
    """The fields the source reads of a raw ``PubsubMessage`` protobuf.

    Raw protobufs, not proto-plus wrappers (see :meth:`Subscriber.pull`): proto-plus builds
    their classes at run time, so they have no static type to name.
    """

    @property
    def data(self) -> bytes: ...
    @property
    def attributes(self) -> Mapping[str, str]: ...
    @property
    def message_id(self) -> str: ...
    @property
    def publish_time(self) -> Timestamp: ...
    @property
    def ordering_key(self) -> str: ...


class ReceivedMessage(Protocol):
    """The fields the source reads of a raw ``ReceivedMessage`` protobuf, as pulled."""

    @property
    def ack_id(self) -> str: ...
    @property
    def message(self) -> PubsubMessage: ...
    @property
    def delivery_attempt(self) -> int:
        """0 without a dead-letter policy."""


class Subscriber:
    """Synchronous Pub/Sub calls for one subscription, with retries in one place."""

    def __init__(self, subscription_path: str, emulator_host: str | None = None) -> None:
        self.subscription_path = subscription_path
        self.emulator_host = emulator_host
        self._client: SubscriberClient | None = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> SubscriberClient:
        with self._client_lock:
            if self._client is None:
                self._client = _make_client(self.emulator_host)
            return self._client

    def pull(
        self, max_messages: int, wait_seconds: float, timeout_seconds: float
    ) -> list[ReceivedMessage]:
        """Up to ``max_messages`` messages (raw protobufs); an empty list when none are ready.

        ``wait_seconds == 0`` asks the service to answer at once (``return_immediately``), so
        an empty trigger costs one round trip. Otherwise the request is held open up to
        ``wait_seconds`` for messages to arrive. ``timeout_seconds`` bounds a call that
        returns at once, transfer included.
        """
        from google.api_core import exceptions

        return_immediately = wait_seconds == 0
        try:
            response = self.client.pull(
                request={
                    "subscription": self.subscription_path,
                    "max_messages": max_messages,
                    "return_immediately": return_immediately,
                },
                timeout=timeout_seconds if return_immediately else wait_seconds,
                retry=_retry(deadline=max(timeout_seconds, 10.0)),
            )
        except exceptions.DeadlineExceeded:
            if return_immediately:
                raise SubscriberError(
                    f"pull from {self.subscription_path} took longer than "
                    f"pullTimeoutSeconds={timeout_seconds:g}; raise it or lower pullMaxMessages"
                ) from None
            # A held-open pull that saw no message within pullWaitSeconds: nothing to read.
            # (Messages in a response cut off by this deadline stay leased until their ack
            # deadline lapses, then are redelivered: a delay, never a loss.)
            return []
        except exceptions.GoogleAPICallError as error:
            raise SubscriberError(
                f"pull from {self.subscription_path} failed: {error}; check that the "
                "subscription exists and the credentials may consume it"
            ) from error
        # Work on the raw protobuf: proto-plus wrappers cost microseconds per field access.
        return list(type(response).pb(response).received_messages)

    def acknowledge(self, ack_ids: Sequence[str]) -> int:
        """Acknowledge ``ack_ids`` in request-sized chunks; returns how many were stale."""
        return self._send("acknowledge", ack_ids, None)

    def modify_ack_deadline(self, ack_ids: Sequence[str], seconds: int) -> int:
        """Set the ack deadline of ``ack_ids`` (0 releases them); returns how many were stale."""
        return self._send("modify_ack_deadline", ack_ids, seconds)

    def release(self, ack_ids: Sequence[str]) -> int:
        """Hand messages back to Pub/Sub for immediate redelivery (a nack)."""
        return self.modify_ack_deadline(ack_ids, RELEASE_DEADLINE_SECONDS)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _send(self, method: str, ack_ids: Sequence[str], seconds: int | None) -> int:
        chunks = list(chunk_ack_ids(ack_ids))
        if not chunks:
            return 0
        if len(chunks) == 1:
            return self._send_chunk(method, chunks[0], seconds)
        with ThreadPoolExecutor(max_workers=min(8, len(chunks))) as pool:
            return sum(pool.map(lambda chunk: self._send_chunk(method, chunk, seconds), chunks))

    def _send_chunk(self, method: str, ack_ids: list[str], seconds: int | None) -> int:
        from google.api_core import exceptions

        request: dict[str, Any] = {"subscription": self.subscription_path, "ack_ids": ack_ids}
        if seconds is not None:
            request["ack_deadline_seconds"] = seconds
        try:
            getattr(self.client, method)(request=request, retry=_retry(deadline=120.0))
        except exceptions.InvalidArgument as error:
            if len(ack_ids) == 1:
                log.warning(
                    "pubsub stale ack id method=%s subscription=%s ack_id=%s error=%s",
                    method,
                    self.subscription_path,
                    ack_ids[0],
                    error.message,
                )
                return 1
            middle = len(ack_ids) // 2
            return self._send_chunk(method, ack_ids[:middle], seconds) + self._send_chunk(
                method, ack_ids[middle:], seconds
            )
        except exceptions.GoogleAPICallError as error:
            raise SubscriberError(
                f"{method} of {len(ack_ids)} ack ids on {self.subscription_path} failed after "
                f"retries: {error}; the messages will be redelivered when their leases expire"
            ) from error
        return 0


def _retry(deadline: float) -> Any:
    """The one retry policy of the source: transient gRPC errors, exponential backoff."""
    from google.api_core import exceptions
    from google.api_core.retry import Retry, if_exception_type

    return Retry(
        predicate=if_exception_type(
            exceptions.ServiceUnavailable,
            exceptions.InternalServerError,
            exceptions.Aborted,
            exceptions.ResourceExhausted,
            exceptions.Unknown,
        ),
        initial=0.1,
        maximum=5.0,
        multiplier=2.0,
        timeout=deadline,
    )


def _make_client(emulator_host: str | None) -> SubscriberClient:
    from google.cloud.pubsub_v1 import SubscriberClient

    # return_immediately is deprecated for streaming-pull users but remains the only way to
    # make an empty synchronous pull answer at once; the client warns on every call.
    warnings.filterwarnings(
        "ignore",
        message="The return_immediately flag is deprecated",
        category=DeprecationWarning,
    )

    if emulator_host is None:
        return SubscriberClient()
    # The library only switches to plaintext when PUBSUB_EMULATOR_HOST is set in the
    # environment; an explicit emulatorHost option builds the same insecure channel directly.
    import grpc
    from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

    channel = grpc.insecure_channel(
        emulator_host,
        options=[
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
        ],
    )
    return SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
