"""Publishing to Pub/Sub: the client, its batching, flow control and retry, futures to asyncio.

The three knobs are named objects built from :class:`~producer.settings.ProducerSettings`:

* :func:`batch_settings` - how many messages / bytes / how long a publish request collects.
* :func:`flow_control` - the client's own flow control, off (``IGNORE``): the limits are
  enforced page by page before publishing (:mod:`producer.flow_control`), because the client
  measures each message by serialising it, three times.
* :func:`publish_retry` - retryable codes (UNAVAILABLE, DEADLINE_EXCEEDED, ...) are retried by
  the client with jittered exponential backoff for ``publish_timeout_seconds``; every retry is
  logged and counted. Anything else, or the timeout running out, fails the message's future.

A page's messages are handed to the client by one daemon thread (``publish`` may block on flow
control, and a daemon thread never holds up the process exit when Pub/Sub is gone). Their
futures count down a :class:`PageAck`, which reports once per page to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import (
    BatchSettings,
    LimitExceededBehavior,
    PublisherOptions,
    PublishFlowControl,
)

from producer.errors import (
    PublishRejected,
    PublishRetriesExhausted,
    TerminalError,
)
from producer.metrics import ProducerMetrics
from producer.settings import ProducerSettings
from schemas.envelope import EncodedMessage

log = logging.getLogger(__name__)

RETRYABLE_PUBLISH_ERRORS: tuple[type[Exception], ...] = (
    api_exceptions.Aborted,
    api_exceptions.Cancelled,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.ResourceExhausted,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
)
"""The codes Google documents as retryable for Publish (the client's own default set)."""

_UNANSWERED: tuple[type[Exception], ...] = (api_exceptions.RetryError, *RETRYABLE_PUBLISH_ERRORS)
"""A call that ran out of retries, or failed in a way worth retrying."""


def batch_settings(settings: ProducerSettings) -> BatchSettings:
    return BatchSettings(
        max_messages=settings.batch_max_messages,
        max_bytes=settings.batch_max_bytes,
        max_latency=settings.batch_max_latency_seconds,
    )


def flow_control(settings: ProducerSettings) -> PublishFlowControl:
    """Off: :class:`producer.flow_control.PageFlowControl` bounds the same limits, cheaper."""
    return PublishFlowControl(
        message_limit=settings.flow_control_max_messages,
        byte_limit=settings.flow_control_max_bytes,
        limit_exceeded_behavior=LimitExceededBehavior.IGNORE,
    )


def publish_retry(
    settings: ProducerSettings, on_error: Callable[[Exception], None] | None = None
) -> Retry:
    return Retry(
        predicate=if_exception_type(*RETRYABLE_PUBLISH_ERRORS),
        initial=settings.retry_initial_delay_seconds,
        maximum=settings.retry_max_delay_seconds,
        multiplier=2.0,
        timeout=settings.publish_timeout_seconds,
        on_error=on_error,
    )


def publish_failure(error: BaseException, topic: str) -> TerminalError:
    """The terminal error a failed publish future stands for, with what to do about it."""
    if isinstance(error, api_exceptions.NotFound):
        return PublishRejected(
            f"Pub/Sub topic {topic} does not exist ({error.message}); create it with "
            "`olist setup` (or `olist pubsub init`) or fix OLIST_GCP_PROJECT / OLIST_PUBSUB_TOPIC"
        )
    if isinstance(error, api_exceptions.PermissionDenied | api_exceptions.Unauthenticated):
        return PublishRejected(
            f"not allowed to publish to {topic} ({type(error).__name__}: {error.message}); "
            "grant roles/pubsub.publisher to the producer's service account"
        )
    if isinstance(error, _UNANSWERED):
        return PublishRetriesExhausted(
            f"Pub/Sub stayed unavailable for {topic} through the whole publish timeout: "
            f"{error}; check connectivity or raise OLIST_PUBLISH_TIMEOUT_SECONDS"
        )
    if isinstance(error, TerminalError):
        return error
    return PublishRejected(f"Pub/Sub refused a publish to {topic}: {type(error).__name__}: {error}")


class PageAck:
    """Counts down a page's message futures; calls ``on_complete`` exactly once.

    ``on_complete(None)`` when every message is confirmed, ``on_complete(error)`` on the first
    failure. Runs on the Pub/Sub client's threads, hence the lock.
    """

    def __init__(
        self,
        topics: Sequence[str],
        on_complete: Callable[[TerminalError | None], None],
        metrics: ProducerMetrics,
    ) -> None:
        self._topics = topics
        self._remaining = len(topics)
        self._failed = False
        self._lock = threading.Lock()
        self._on_complete = on_complete
        self._metrics = metrics
        if self._remaining == 0:
            on_complete(None)

    def watch(self, index: int, future: Future[str]) -> None:
        started = time.monotonic()

        def done(completed: Future[str]) -> None:
            error = completed.exception()
            if error is None:
                self._metrics.publish_latency.observe(time.monotonic() - started)
            self._message_done(index, error)

        future.add_done_callback(done)

    def fail(self, index: int, error: BaseException) -> None:
        """Record a message that could not even be handed to the client."""
        self._message_done(index, error)

    def _message_done(self, index: int, error: BaseException | None) -> None:
        with self._lock:
            if self._failed:
                return
            if error is not None:
                self._failed = True
            else:
                self._remaining -= 1
                if self._remaining:
                    return
        self._on_complete(None if error is None else publish_failure(error, self._topics[index]))


class EventPublisher:
    """Publishes pages of messages; one instance per producer process."""

    def __init__(
        self,
        settings: ProducerSettings,
        metrics: ProducerMetrics,
        client: pubsub_v1.PublisherClient | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.client = client or pubsub_v1.PublisherClient(
            batch_settings=batch_settings(settings),
            publisher_options=PublisherOptions(
                flow_control=flow_control(settings),
                retry=publish_retry(settings, on_error=self._on_retry),
                timeout=settings.publish_attempt_timeout_seconds,
            ),
        )
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="olist-publish", daemon=True)
        self._thread.start()

    def _on_retry(self, error: Exception) -> None:
        log.warning("retrying pubsub publish error=%r", str(error))
        self.metrics.note_retry("pubsub")

    def _run(self) -> None:
        while (work := self._work.get()) is not None:
            work()

    def publish_page(
        self,
        messages: Sequence[tuple[str, EncodedMessage]],
        on_complete: Callable[[TerminalError | None], None],
    ) -> None:
        """Publish ``(topic path, message)`` pairs; ``on_complete`` runs once they settle.

        ``on_complete`` is called from another thread; callers bridge it to their loop.
        """
        ack = PageAck([topic for topic, _ in messages], on_complete, self.metrics)

        def publish_all() -> None:
            for index, (topic, message) in enumerate(messages):
                try:
                    future = self.client.publish(topic, message.data, **message.attributes)
                except Exception as error:  # reported through the page's ack, never dropped
                    ack.fail(index, error)
                    return
                ack.watch(index, future)

        self._work.put(publish_all)

    async def check_topic(self, topic: str, timeout: float) -> None:
        """Fail fast with a clear message when ``topic`` is missing or Pub/Sub unreachable.

        A publisher-only service account may not read topic metadata; that case is logged and
        the check is skipped (the first publish then reports a missing topic).
        """
        retry = Retry(
            predicate=if_exception_type(*RETRYABLE_PUBLISH_ERRORS),
            initial=0.2,
            maximum=2.0,
            timeout=timeout,
        )
        try:
            # Blocking gRPC call, once at start: run beside the loop.
            await asyncio.to_thread(
                self.client.get_topic, topic=topic, retry=retry, timeout=min(timeout, 10.0)
            )
        except api_exceptions.PermissionDenied as error:
            log.warning("topic check skipped topic=%s reason=%r", topic, error.message)
        except _UNANSWERED as error:
            raise PublishRetriesExhausted(
                f"Pub/Sub did not answer for {timeout:.0f} s while checking {topic} ({error}); "
                "check PUBSUB_EMULATOR_HOST or network access to pubsub.googleapis.com"
            ) from error
        except api_exceptions.GoogleAPICallError as error:
            raise publish_failure(error, topic) from error

    def close(self) -> None:
        """Stop the hand-off thread and flush the client's open batches (non-blocking)."""
        self._work.put(None)
        self.client.stop()
