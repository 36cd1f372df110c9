"""The producer's pure parts: confirmation order, packing, validation, backoff, token bucket."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from producer.backoff import BackoffPolicy, RetriesExhausted, retry_async
from producer.confirmation import ConfirmationTracker, Cursor
from producer.errors import PublishRejected, SourceUnavailable
from producer.flow_control import PageFlowControl
from producer.packing import dead_letter_message, pack_events
from producer.rate_limit import TokenBucket
from producer.settings import ProducerSettings
from producer.source_client import parse_retry_after
from producer.validation import OrderEventDict, validate_events
from schemas import OrderEvent, event_id_for
from schemas.envelope import MAX_PAYLOAD_BYTES, split_events
from schemas.examples import EXAMPLE_EVENT


def valid_event(sequence: int) -> dict[str, object]:
    order_id = f"{sequence:032x}"
    return {
        **EXAMPLE_EVENT,
        "event_id": event_id_for(order_id, 1),
        "source_sequence": sequence,
        "order_id": order_id,
        "order_delivered_carrier_date": None,
        "order_delivered_customer_date": None,
        "customer_id": "b" * 32,
        "customer_unique_id": "c" * 32,
        "product_id": "d" * 32,
        "seller_id": "e" * 32,
        "payment_types": ["credit_card"],
        "review_creation_date": None,
        "review_answer_timestamp": None,
    }


# --- confirmation tracking -------------------------------------------------------------------


def test_cursor_waits_for_every_earlier_page_before_advancing() -> None:
    tracker = ConfirmationTracker(Cursor("c0", 0))
    first = tracker.register(Cursor("c1", 10))
    second = tracker.register(Cursor("c2", 20))
    third = tracker.register(Cursor("c3", 30))

    assert tracker.confirm(third) is False
    assert tracker.confirm(second) is False
    assert tracker.safe_cursor == Cursor("c0", 0)
    assert tracker.in_flight == 3

    assert tracker.confirm(first) is True
    assert tracker.safe_cursor == Cursor("c3", 30)
    assert tracker.in_flight == 0


def test_cursor_advances_page_by_page_when_confirmed_in_order() -> None:
    tracker = ConfirmationTracker(Cursor(None, 0))
    first = tracker.register(Cursor("c1", 5))
    second = tracker.register(Cursor("c2", 9))

    assert tracker.confirm(first) is True
    assert tracker.safe_cursor == Cursor("c1", 5)
    assert tracker.confirm(second) is True
    assert tracker.safe_cursor == Cursor("c2", 9)


def test_confirming_a_page_twice_is_refused() -> None:
    tracker = ConfirmationTracker(Cursor(None, 0))
    page = tracker.register(Cursor("c1", 1))
    tracker.register(Cursor("c2", 2))
    tracker.confirm(page)

    with pytest.raises(ValueError, match="already behind the safe cursor"):
        tracker.confirm(page)
    with pytest.raises(ValueError, match="never registered"):
        tracker.confirm(7)


# --- packing ---------------------------------------------------------------------------------


def test_events_are_packed_in_order_with_at_most_n_per_message() -> None:
    sequences = list(range(1, 8))
    events = [b'{"n":%d}' % sequence for sequence in sequences]

    messages = pack_events(events, sequences, events_per_message=3)

    assert [message.attributes["event_count"] for message in messages] == ["3", "3", "1"]
    assert [
        (message.attributes["first_sequence"], message.attributes["last_sequence"])
        for message in messages
    ] == [("1", "3"), ("4", "6"), ("7", "7")]
    unpacked = [
        orjson.loads(raw)["n"]
        for message in messages
        for raw in split_events(message.data, message.attributes)
    ]
    assert unpacked == list(range(1, 8))


def test_packed_messages_are_zstd_compressed_by_default_and_read_back_exactly() -> None:
    assert ProducerSettings().message_compression == "zstd"
    events = [b'{"n":%d,"city":"sao paulo"}' % n for n in range(1, 2001)]
    messages = pack_events(events, list(range(1, 2001)), 1000, compression="zstd")
    assert [m.attributes["content_encoding"] for m in messages] == ["zstd", "zstd"]
    assert sum(len(m.data) for m in messages) < sum(map(len, events)) / 5
    assert [raw for m in messages for raw in split_events(m.data, m.attributes)] == events


def test_one_event_per_message_when_n_is_one() -> None:
    messages = pack_events([b"{}"] * 3, [1, 2, 3], events_per_message=1)

    assert [message.data for message in messages] == [b"{}", b"{}", b"{}"]
    assert [message.attributes["first_sequence"] for message in messages] == ["1", "2", "3"]


def test_messages_are_split_before_the_payload_budget() -> None:
    big = b'"' + b"x" * 3_000_000 + b'"'

    messages = pack_events([big] * 7, list(range(1, 8)), events_per_message=1000)

    assert [message.attributes["event_count"] for message in messages] == ["3", "3", "1"]
    assert [message.attributes["first_sequence"] for message in messages] == ["1", "4", "7"]
    assert all(len(message.data) <= MAX_PAYLOAD_BYTES for message in messages)


def test_a_message_is_filled_up_to_the_byte_budget_exactly() -> None:
    # Three events whose bytes plus the two joining newlines are the budget, then one more.
    third = (MAX_PAYLOAD_BYTES - 2) // 3
    sizes = [third, third, MAX_PAYLOAD_BYTES - 2 - 2 * third, 1]
    events = [b"x" * size for size in sizes]

    messages = pack_events(events, [1, 2, 3, 4], events_per_message=1000)

    assert [len(message.data) for message in messages] == [MAX_PAYLOAD_BYTES, 1]


def test_an_event_larger_than_a_message_is_refused_with_its_sequence() -> None:
    huge = b"x" * (MAX_PAYLOAD_BYTES + 1)

    with pytest.raises(PublishRejected, match="source_sequence=42 serialises to 9500001 bytes"):
        pack_events([b"{}", huge], [41, 42], events_per_message=10)


# --- validation ------------------------------------------------------------------------------


def test_valid_events_keep_the_bytes_the_api_sent() -> None:
    # Spacing and key order orjson would not produce: the bytes must come through untouched.
    rest = {key: value for key, value in valid_event(1).items() if key != "source_sequence"}
    raw = [b'{ "source_sequence" : 1, ' + orjson.dumps(rest)[1:], orjson.dumps(valid_event(2))]

    page = validate_events(raw)

    assert page.invalid == []
    assert page.sequences == [1, 2]
    assert page.events == raw


def test_invalid_event_is_set_apart_with_the_precise_reason() -> None:
    broken = valid_event(2)
    broken["customer_state"] = "XX"
    del broken["price"]
    events = [valid_event(1), broken, valid_event(3)]

    page = validate_events([orjson.dumps(event) for event in events])

    assert page.sequences == [1, 3]
    assert len(page.invalid) == 1
    invalid = page.invalid[0]
    assert invalid.source_sequence == 2
    assert invalid.event_id == broken["event_id"]
    assert "customer_state: Input should be 'AC'" in invalid.reason
    assert "price: Field required" in invalid.reason
    assert orjson.loads(invalid.data) == broken


def test_dead_letter_message_carries_reason_sequence_and_event_id() -> None:
    broken = valid_event(5)
    broken["review_score"] = 9
    invalid = validate_events([orjson.dumps(broken)]).invalid[0]

    message = dead_letter_message(invalid)

    assert message.data == orjson.dumps(broken)
    assert message.attributes["origin"] == "producer"
    assert message.attributes["source_sequence"] == "5"
    assert message.attributes["event_id"] == broken["event_id"]
    assert message.attributes["schema_version"] == "2"
    assert message.attributes["reason"].startswith("event does not match OrderEvent: review_score")


def test_event_that_is_not_an_object_is_dead_lettered_without_sequence() -> None:
    page = validate_events([orjson.dumps(valid_event(1)), b'"not an event"'])

    assert page.sequences == [1]
    assert page.invalid[0].source_sequence is None
    assert page.invalid[0].event_id is None
    assert page.invalid[0].data == b'"not an event"'


# --- flow control ----------------------------------------------------------------------------


async def test_flow_control_holds_a_page_until_settled_pages_make_room() -> None:
    flow = PageFlowControl(max_messages=4, max_bytes=1000)
    await flow.acquire(3, 600)

    waiting = asyncio.create_task(flow.acquire(2, 100))  # 5 messages > 4: must wait
    await asyncio.sleep(0)
    assert not waiting.done()
    flow.release(3, 600)
    await asyncio.wait_for(waiting, 1)

    assert (flow.messages, flow.bytes) == (2, 100)
    too_big = asyncio.create_task(flow.acquire(1, 901))  # 1001 bytes > 1000: must wait
    await asyncio.sleep(0)
    assert not too_big.done()
    flow.release(2, 100)
    await asyncio.wait_for(too_big, 1)
    assert (flow.messages, flow.bytes) == (1, 901)


async def test_a_page_over_the_limits_goes_through_alone() -> None:
    flow = PageFlowControl(max_messages=1, max_bytes=10)

    await asyncio.wait_for(flow.acquire(5, 10_000), 1)

    assert (flow.messages, flow.bytes) == (5, 10_000)


def test_flow_control_refuses_limits_that_are_not_positive() -> None:
    with pytest.raises(ValueError, match="max_messages=0 max_bytes=10"):
        PageFlowControl(0, 10)


# --- backoff and Retry-After -----------------------------------------------------------------


def test_backoff_delay_is_jittered_below_an_exponential_ceiling() -> None:
    policy = BackoffPolicy(initial_delay=0.5, max_delay=3.0, multiplier=2.0)

    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the range


def test_retry_after_replaces_the_drawn_delay() -> None:
    assert BackoffPolicy(max_delay=1.0).delay(1, retry_after=7.0) == 7.0


def test_retry_after_header_in_seconds_and_as_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_ten_seconds = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8.0 <= (parse_retry_after(in_ten_seconds) or 0.0) <= 10.0


async def test_retry_gives_up_after_the_time_budget_with_the_last_error() -> None:
    attempts = 0

    async def always_unavailable() -> None:
        nonlocal attempts
        attempts += 1
        raise SourceUnavailable(f"down #{attempts}", retry_after=0.05)

    with pytest.raises(RetriesExhausted) as raised:
        await retry_async(always_unavailable, BackoffPolicy(timeout=0.2), what="test call")

    assert raised.value.attempts == attempts
    assert attempts >= 2
    assert str(raised.value.last_error) == f"down #{attempts}"


async def test_retry_returns_the_first_success_and_reports_each_retry() -> None:
    outcomes: list[Exception | str] = [SourceUnavailable("a"), SourceUnavailable("b"), "done"]
    retried: list[str] = []

    async def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = await retry_async(
        flaky,
        BackoffPolicy(initial_delay=0.01, max_delay=0.01),
        what="flaky",
        on_retry=lambda error: retried.append(str(error)),
    )

    assert result == "done"
    assert retried == ["a", "b"]


# --- token bucket ----------------------------------------------------------------------------


class FakeClock:
    """monotonic() and sleep() that only move when the bucket sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_token_bucket_holds_the_long_run_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, clock=clock.monotonic, sleep=clock.sleep)

    for _ in range(5):
        await bucket.acquire(100)

    # The first second's worth is the initial burst; the next four each wait one second.
    assert clock.sleeps == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert clock.now - 1000.0 == pytest.approx(4.0)


async def test_token_bucket_lets_a_page_larger_than_its_capacity_through_and_pays_later() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, clock=clock.monotonic, sleep=clock.sleep)

    await bucket.acquire(35)

    assert clock.sleeps == pytest.approx([2.5])


def test_token_bucket_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="rate must be positive, found 0"):
        TokenBucket(0)


async def test_token_bucket_serialises_concurrent_callers() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=50.0, clock=clock.monotonic, sleep=clock.sleep)

    await asyncio.gather(*(bucket.acquire(50) for _ in range(3)))

    assert clock.sleeps == pytest.approx([1.0, 1.0])


def test_tracker_counts_the_pages_behind_the_safe_cursor() -> None:
    tracker = ConfirmationTracker(Cursor(None, 0))
    pages = [tracker.register(Cursor(f"c{n}", n)) for n in range(1, 4)]

    tracker.confirm(pages[1])
    assert tracker.pages_behind == 0
    tracker.confirm(pages[0])
    assert tracker.pages_behind == 2
    tracker.confirm(pages[2])
    assert tracker.pages_behind == 3


def _errors(adapter: TypeAdapter[Any], event: object) -> list[tuple[object, ...]]:
    try:
        adapter.validate_python([event])
    except ValidationError as error:
        return sorted((tuple(e["loc"]), e["type"], e["msg"]) for e in error.errors())
    return []


def test_the_fast_validator_refuses_exactly_what_order_event_refuses() -> None:
    model = TypeAdapter(list[OrderEvent])
    fast = TypeAdapter(list[OrderEventDict])  # type: ignore[valid-type]  # a TypedDict built at run time
    base = valid_event(1)
    without_price = {key: value for key, value in base.items() if key != "price"}
    cases: list[object] = [
        base,
        without_price,
        {**base, "unexpected": 1},
        {**base, "schema_version": 3},
        {**base, "event_id": "not-a-uuid"},
        {**base, "source_sequence": 0},
        {**base, "order_id": "ABC"},
        {**base, "order_status": "lost"},
        {**base, "order_purchase_timestamp": "yesterday"},
        {**base, "order_approved_at": None, "order_estimated_delivery_date": None},
        {**base, "customer_zip_code_prefix": "1234"},
        {**base, "customer_city": ""},
        {**base, "customer_state": "XX"},
        {**base, "product_weight_g": -1},
        {**base, "price": -0.01},
        {**base, "price": 1.234},
        {**base, "freight_value": 10**13},
        {**base, "payment_total": None, "payment_types": ["cash"]},
        {**base, "payment_installments_max": -1},
        {**base, "review_score": 0},
        {**base, "review_score": 6},
    ]

    for case in cases:
        assert _errors(fast, case) == _errors(model, case), case
    assert _errors(fast, base) == []
    # Only the wording for a non-object differs ("dictionary" vs "instance of OrderEvent").
    assert [error[:2] for error in _errors(fast, "text")] == [((0,), "dict_type")]
    assert [error[:2] for error in _errors(model, "text")] == [((0,), "model_type")]
    assert len(_errors(fast, {**base, "customer_state": "XX", "review_score": 9})) == 2
