"""Lifecycle of the producer process: start, signals, run the pipeline, persist, stop.

``SIGTERM``/``SIGINT`` stop fetching, wait for in-flight publishes (up to
``shutdown_timeout_seconds``), persist the cursor and return normally (exit 0). A
:class:`~producer.errors.TerminalError` is raised after the confirmed cursor is persisted.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from producer.backoff import BackoffPolicy
from producer.confirmation import Cursor
from producer.cursor_store import CursorStore, open_cursor_store
from producer.errors import ConfigurationError, TerminalError
from producer.metrics import MetricsServer, ProducerMetrics
from producer.pipeline import Pipeline, PipelineResult
from producer.publisher import EventPublisher
from producer.settings import ProducerSettings
from producer.source_client import SourceClient

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_producer(
    settings: ProducerSettings,
    once: bool = False,
    metrics: ProducerMetrics | None = None,
    handle_signals: bool = True,
) -> PipelineResult:
    """Run the producer until drained (``once``), stopped by a signal, or failed."""
    metrics = metrics or ProducerMetrics()
    metrics.stuck_threshold_seconds = settings.health_stuck_seconds
    cursor_store = open_cursor_store(settings.cursor_location, settings.storage_api_endpoint)
    try:
        return await _run_with_cursor(settings, cursor_store, once, metrics, handle_signals)
    finally:
        cursor_store.release()


async def _run_with_cursor(
    settings: ProducerSettings,
    cursor_store: CursorStore,
    once: bool,
    metrics: ProducerMetrics,
    handle_signals: bool,
) -> PipelineResult:
    start = await cursor_store.load() or Cursor(None, 0)
    log.info(
        "producer starting api_url=%s topic=%s cursor_location=%s cursor_sequence=%d "
        "events_per_message=%d max_events_per_second=%s once=%s",
        settings.api_url,
        settings.topic_path(),
        cursor_store.location,
        start.last_sequence,
        settings.events_per_message,
        settings.max_events_per_second,
        once,
    )
    server = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
    try:
        await server.start()
    except OSError as error:
        raise ConfigurationError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} ({error}); "
            "choose a free OLIST_METRICS_PORT"
        ) from error
    publisher = EventPublisher(settings, metrics)
    loop = asyncio.get_running_loop()
    try:
        for topic in (settings.topic_path(), settings.dead_letter_topic_path()):
            await publisher.check_topic(topic, settings.startup_check_timeout_seconds)
        policy = BackoffPolicy(
            settings.retry_initial_delay_seconds,
            settings.retry_max_delay_seconds,
            timeout=settings.api_retry_timeout_seconds,
        )
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        async with SourceClient(
            settings.api_url,
            policy,
            api_key=api_key,
            timeout=settings.api_timeout_seconds,
            on_retry=lambda _error: metrics.note_retry("api"),
            max_response_bytes=settings.api_max_response_bytes,
        ) as source:
            pipeline = Pipeline(settings, source, publisher, cursor_store, metrics, once=once)
            # The ~10^5 objects of the loaded libraries live as long as the process: keep them
            # out of every full garbage collection (GC time: docs/design/producer.md#measurements).
            gc.freeze()
            if handle_signals:
                for number in STOP_SIGNALS:
                    loop.add_signal_handler(number, pipeline.request_stop)
            try:
                result = await pipeline.run(start)
            finally:
                if handle_signals:
                    for number in STOP_SIGNALS:
                        loop.remove_signal_handler(number)
    except TerminalError:
        metrics.healthy = False
        raise
    finally:
        publisher.close()
        await server.stop()
    log.info(
        "producer stopped events_published=%d messages_published=%d dead_lettered=%d "
        "cursor_sequence=%d by_signal=%s",
        result.events_published,
        result.messages_published,
        result.events_dead_lettered,
        result.cursor.last_sequence,
        result.stopped_by_signal,
    )
    return result
