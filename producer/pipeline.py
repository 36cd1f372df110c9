"""The producer's data path: fetch pages, validate and pack them, publish, persist the cursor.

::

    fetch loop ──(bounded queue)──> publish loop ──(flow control)──> Pub/Sub client threads
        ^                                                                    │ futures
        │                                              ConfirmationTracker <─┘
        │                                                      │ safe cursor
        └── window slot released <── commit loop ──> CursorStore.save

The next page is asked for as soon as a page arrives, so the API renders it while this one is
validated, and the previous ones are being published. A page holds a window slot
(``max_pages_in_flight``) from before it is fetched until the persisted cursor is past it, so
the pages in memory *and* the events a crash can make us publish twice are both bounded by
that window, whatever the speeds of the API, Pub/Sub and the cursor store. The cursor
persisted is always one whose events Pub/Sub has all confirmed (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from dataclasses import dataclass

from producer.backoff import BackoffPolicy
from producer.confirmation import ConfirmationTracker, Cursor
from producer.cursor_store import CursorStore
from producer.errors import CursorAheadOfSource, SourceProtocolError, TerminalError
from producer.flow_control import PageFlowControl
from producer.metrics import ProducerMetrics
from producer.packing import dead_letter_message, pack_events
from producer.publisher import EventPublisher
from producer.rate_limit import TokenBucket
from producer.settings import ProducerSettings
from producer.source_client import Page, SourceClient
from producer.validation import validate_events
from schemas.envelope import EncodedMessage

log = logging.getLogger(__name__)

PROGRESS_LOG_INTERVAL_SECONDS = 10.0


def _check_increasing(sequences: list[int], previous: int) -> None:
    """Raise unless ``sequences`` rise strictly from above ``previous`` (checked in C first)."""
    if all(map(operator.lt, [previous, *sequences], sequences)):
        return
    for sequence in sequences:
        if sequence <= previous:
            raise SourceProtocolError(
                f"expected source_sequence above {previous}, found {sequence}: "
                "the API served events out of order or again; check the cursor and the API"
            )
        previous = sequence


@dataclass(frozen=True)
class PreparedPage:
    """A fetched page turned into messages, with the cursor that follows it."""

    messages: list[tuple[str, EncodedMessage]]
    payload_bytes: int
    event_count: int
    message_count: int
    dead_letter_count: int
    cursor_after: Cursor


@dataclass(frozen=True)
class PipelineResult:
    """What one run did; ``cursor`` is the cursor persisted at the end."""

    cursor: Cursor
    events_published: int
    messages_published: int
    events_dead_lettered: int
    pages: int
    stopped_by_signal: bool


class Pipeline:
    """One run of the producer from a start cursor until drained (``once``), stopped or failed.

    Everything here runs on the event loop except the Pub/Sub client, whose confirmations come
    back through ``call_soon_threadsafe``.
    """

    def __init__(
        self,
        settings: ProducerSettings,
        source: SourceClient,
        publisher: EventPublisher,
        cursor_store: CursorStore,
        metrics: ProducerMetrics,
        once: bool = False,
    ) -> None:
        self.settings = settings
        self.source = source
        self.publisher = publisher
        self.cursor_store = cursor_store
        self.metrics = metrics
        self.once = once
        self._topic = settings.topic_path()
        self._dead_letter_topic = settings.dead_letter_topic_path()
        rate = settings.max_events_per_second
        self._rate_limiter = TokenBucket(rate) if rate is not None else None
        # A page never holds more than one second's worth of the rate limit, so the limit
        # shapes traffic instead of letting a 5,000-event page through in one burst.
        self._page_size = (
            settings.api_page_size
            if rate is None
            else max(1, min(settings.api_page_size, int(rate)))
        )
        self._startup_policy = BackoffPolicy(
            settings.retry_initial_delay_seconds,
            settings.retry_max_delay_seconds,
            timeout=settings.startup_check_timeout_seconds,
        )
        self._window = asyncio.Semaphore(settings.max_pages_in_flight)
        self._flow = PageFlowControl(
            settings.flow_control_max_messages, settings.flow_control_max_bytes
        )
        self._queue: asyncio.Queue[PreparedPage | None] = asyncio.Queue(
            maxsize=settings.fetch_queue_pages
        )
        self._finished = asyncio.Event()
        self._progress = asyncio.Event()
        self._commit_wanted = asyncio.Event()
        self._closing = False
        self._stop_requested = False
        self._fetch_complete = False
        self._error: BaseException | None = None
        self._unsettled = 0
        self._pages_released = 0
        self._tracker = ConfirmationTracker(Cursor(None, 0))
        self._persisted = Cursor(None, 0)
        self._events_published = 0
        self._messages_published = 0
        self._events_dead_lettered = 0
        self._pages = 0

    def request_stop(self) -> None:
        """Stop fetching, let in-flight publishes finish, persist, return (signal handler)."""
        if not self._stop_requested:
            log.info("stop requested: finishing in-flight publishes")
        self._stop_requested = True
        self._finished.set()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            # A TerminalError is an expected stop with its own message; anything else is a bug
            # and gets its traceback.
            log.error(
                "producer stopping on error error_type=%s error=%r",
                type(error).__name__,
                str(error),
                exc_info=None if isinstance(error, TerminalError) else error,
            )
            self._error = error
            self.metrics.healthy = False
        self._finished.set()
        self._progress.set()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # Any loop dying of an exception stops the run; it must never leave run() waiting.
        if not task.cancelled() and (error := task.exception()) is not None:
            self._fail(error)

    async def run(self, start: Cursor) -> PipelineResult:
        """Publish from ``start`` on; raises the first :class:`TerminalError` after persisting."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._tracker = ConfirmationTracker(start)
        self._persisted = start
        self.metrics.observe_cursor(start.last_sequence)
        fetch_task = asyncio.create_task(self._fetch_loop(start), name="producer-fetch")
        publish_task = asyncio.create_task(self._publish_loop(), name="producer-publish")
        commit_task = asyncio.create_task(self._commit_loop(), name="producer-commit")
        report_task = asyncio.create_task(self._report_loop(), name="producer-report")
        for task in (fetch_task, publish_task, commit_task, report_task):
            task.add_done_callback(self._task_done)
        try:
            await self._finished.wait()
        finally:
            for task in (fetch_task, publish_task, report_task):
                task.cancel()
            await asyncio.gather(fetch_task, publish_task, report_task, return_exceptions=True)
            await self._drain(loop)
            self._closing = True
            self._commit_wanted.set()
            await asyncio.gather(commit_task, return_exceptions=True)
        if self._error is not None:
            raise self._error
        return PipelineResult(
            cursor=self._persisted,
            events_published=self._events_published,
            messages_published=self._messages_published,
            events_dead_lettered=self._events_dead_lettered,
            pages=self._pages,
            stopped_by_signal=self._stop_requested,
        )

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = loop.time() + self.settings.shutdown_timeout_seconds
        while self._unsettled:
            self._progress.clear()
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                log.warning(
                    "shutdown timeout reached pages_unconfirmed=%d: they are published again "
                    "on the next start",
                    self._unsettled,
                )
                return

    async def _fetch_loop(self, start: Cursor) -> None:
        after = start.value
        last_sequence = start.last_sequence
        first = True
        # The next page, asked for before this one is validated so that the API renders it
        # meanwhile; it holds its window slot from the moment it is asked for.
        next_page: asyncio.Task[Page] | None = None
        try:
            while True:
                if next_page is None:
                    await self._window.acquire()
                    page = await self.source.fetch_page(
                        after, self._page_size, self._startup_policy if first else None
                    )
                else:
                    page, next_page = await next_page, None
                first = False
                self.metrics.note_progress()
                self.metrics.events_fetched.inc(len(page.events))
                self.metrics.observe_head(page.head_sequence)
                if page.head_sequence < last_sequence:
                    raise CursorAheadOfSource(
                        f"the cursor is at source_sequence {last_sequence} but the source's "
                        f"head is {page.head_sequence}: the source database was restored or "
                        "rebuilt behind the cursor, and events numbered up to "
                        f"{last_sequence} there would never be published. If the source was "
                        f"rebuilt, move the cursor {self.cursor_store.location} away to publish "
                        "everything again (the stream deduplicates on event_id); if it was "
                        "restored from a backup, wait until it has caught up, then restart"
                    )
                if page.events or page.next_cursor != after:
                    if page.has_more and not self._window.locked():
                        await self._window.acquire()  # free slot: returns at once
                        next_page = asyncio.create_task(
                            self.source.fetch_page(page.next_cursor, self._page_size),
                            name="producer-fetch-ahead",
                        )
                    if self._rate_limiter is not None and page.events:
                        await self._rate_limiter.acquire(len(page.events))
                    prepared = self._prepare(page, last_sequence)
                    last_sequence = prepared.cursor_after.last_sequence
                    await self._queue.put(prepared)
                    after = page.next_cursor
                else:
                    self._window.release()
                if not page.has_more:
                    if self.once:
                        await self._queue.put(None)
                        return
                    await asyncio.sleep(self.settings.poll_interval_seconds)
        except TerminalError as error:
            self._fail(error)  # expected: no traceback in the task
        finally:
            if next_page is not None:
                next_page.cancel()
                await asyncio.gather(next_page, return_exceptions=True)

    def _prepare(self, page: Page, previous_sequence: int) -> PreparedPage:
        validated = validate_events(page.events)
        sequences = validated.sequences
        _check_increasing(sequences, previous_sequence)
        sequence = sequences[-1] if sequences else previous_sequence
        messages = [
            (self._topic, message)
            for message in pack_events(
                validated.events,
                sequences,
                self.settings.events_per_message,
                self.settings.message_compression,
            )
        ]
        message_count = len(messages)
        for invalid in validated.invalid:
            # A refused event still counts for the cursor's position (it is dead-lettered).
            if invalid.source_sequence is not None:
                sequence = max(sequence, invalid.source_sequence)
            log.warning(
                "event refused: dead-lettered source_sequence=%s event_id=%s reason=%r",
                invalid.source_sequence,
                invalid.event_id,
                invalid.reason,
            )
            messages.append((self._dead_letter_topic, dead_letter_message(invalid)))
        return PreparedPage(
            messages=messages,
            payload_bytes=sum(len(message.data) for _, message in messages),
            event_count=len(sequences),
            message_count=message_count,
            dead_letter_count=len(validated.invalid),
            cursor_after=Cursor(page.next_cursor, sequence),
        )

    async def _publish_loop(self) -> None:
        while True:
            page = await self._queue.get()
            if page is None:
                self._fetch_complete = True
                self._check_complete()
                return
            self.metrics.note_waiting("on Pub/Sub flow control")
            await self._flow.acquire(len(page.messages), page.payload_bytes)
            self.metrics.note_progress()
            index = self._tracker.register(page.cursor_after)
            self._unsettled += 1
            self._pages += 1
            self.metrics.pages_in_flight.set(self._tracker.in_flight)

            def settled(error: TerminalError | None, index: int = index,
                        page: PreparedPage = page) -> None:  # fmt: skip
                self._loop.call_soon_threadsafe(self._page_settled, index, page, error)

            self.publisher.publish_page(page.messages, settled)

    def _page_settled(self, index: int, page: PreparedPage, error: TerminalError | None) -> None:
        self._unsettled -= 1
        self._flow.release(len(page.messages), page.payload_bytes)
        self._progress.set()
        if error is not None:
            self._fail(error)
            return
        self.metrics.note_progress()
        self._events_published += page.event_count
        self._messages_published += page.message_count
        self._events_dead_lettered += page.dead_letter_count
        self.metrics.events_published.inc(page.event_count)
        self.metrics.messages_published.inc(page.message_count)
        self.metrics.events_dead_lettered.inc(page.dead_letter_count)
        if self._tracker.confirm(index):
            self._commit_wanted.set()
        self.metrics.pages_in_flight.set(self._tracker.in_flight)
        self._check_complete()

    def _check_complete(self) -> None:
        if self._fetch_complete and self._tracker.in_flight == 0:
            self._finished.set()

    async def _commit_loop(self) -> None:
        while True:
            cursor = self._tracker.safe_cursor
            pages_behind = self._tracker.pages_behind
            if cursor != self._persisted:
                try:
                    await self.cursor_store.save(cursor)
                except TerminalError as error:
                    self._fail(error)
                    return
                self._persisted = cursor
                self._release_window(pages_behind)
                self.metrics.observe_cursor(cursor.last_sequence)
                log.debug("cursor persisted last_sequence=%d", cursor.last_sequence)
                # Pages may have been confirmed during the save: look again before waiting.
                continue
            self._release_window(pages_behind)
            if self._closing:
                log.info(
                    "cursor persisted at shutdown location=%s last_sequence=%d",
                    self.cursor_store.location,
                    self._persisted.last_sequence,
                )
                return
            await self._commit_wanted.wait()
            self._commit_wanted.clear()

    def _release_window(self, pages_behind: int) -> None:
        # A page leaves the window only once the persisted cursor is past it, so a crash
        # re-publishes at most max_pages_in_flight pages.
        while self._pages_released < pages_behind:
            self._pages_released += 1
            self._window.release()

    async def _report_loop(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(PROGRESS_LOG_INTERVAL_SECONDS)
            elapsed = time.monotonic() - started
            log.info(
                "progress events_published=%d messages_published=%d dead_lettered=%d "
                "events_per_s=%.0f cursor_sequence=%d pages_in_flight=%d",
                self._events_published,
                self._messages_published,
                self._events_dead_lettered,
                self._events_published / elapsed,
                self._persisted.last_sequence,
                self._tracker.in_flight,
            )
