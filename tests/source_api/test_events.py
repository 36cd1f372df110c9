"""/v1/order-events over real HTTP: paging, event content, freshness and parameter errors."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import asyncpg
import httpx
import pytest

from schemas import EVENT_FIELDS, OrderEvent
from source_api.cursor import START_CURSOR, encode_cursor
from tests.fixtures.api import ApiProcess, read_feed
from tests.fixtures.api_orders import insert_order, insert_orders, view_events

# Async fixtures run on the session loop (pyproject); the tests must share it.
pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def client(api_server: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as http:
        yield http


async def test_empty_source_answers_no_events_and_the_start_cursor(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/order-events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "events": [],
        "next_cursor": START_CURSOR,
        "has_more": False,
        "head_sequence": 0,
    }


async def test_paging_reads_every_event_once_in_sequence_order_for_any_limit(
    client: httpx.AsyncClient, database_url: str
) -> None:
    total = await insert_orders(database_url, 120, seed=1)
    expected = [event.event_id for event in await view_events(database_url)]
    assert len(expected) == total
    for limit in (1, 7, 100, total, 5000):
        events, pages = await read_feed(client, limit=limit)
        assert [event["event_id"] for event in events] == expected
        sequences = [event["source_sequence"] for event in events]
        assert sequences == sorted(set(sequences))
        assert [len(page["events"]) for page in pages] == [
            min(limit, total - start) for start in range(0, total, limit)
        ]
        assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
        assert {page["head_sequence"] for page in pages} == {sequences[-1]}
        assert pages[-1]["next_cursor"] == encode_cursor(sequences[-1])


async def test_every_event_validates_and_equals_the_database_row(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await insert_orders(database_url, 40, seed=2)
    response = await client.get("/v1/order-events", params={"limit": 5000})
    served = response.json()["events"]
    # Key order and JSON types are part of the contract, not only the values.
    raw_events = json.loads(response.text, parse_float=Decimal)["events"]
    assert all(tuple(event) == EVENT_FIELDS for event in raw_events)
    assert all(isinstance(event["price"], Decimal) for event in raw_events)
    assert all(isinstance(event["payment_types"], list) for event in raw_events)
    assert all(event["order_purchase_timestamp"].endswith("+00:00") for event in raw_events)
    assert [OrderEvent.model_validate(event) for event in served] == await view_events(database_url)


async def test_event_json_renders_timestamps_money_and_payment_types_exactly(
    client: httpx.AsyncClient, database_url: str
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        # One transaction: the item's first version has these values.
        async with connection.transaction():
            await insert_order(connection, random.Random(3))
            await connection.execute(
                "UPDATE olist.orders SET order_purchase_timestamp = '2017-10-02 10:56:33+00'"
            )
            await connection.execute("UPDATE olist.order_items SET price = 58.9, freight_value = 0")
            await connection.execute("DELETE FROM olist.order_payments")
            await connection.execute(
                "INSERT INTO olist.order_payments SELECT order_id, 1, 'voucher', 1, 10.5 FROM "
                "olist.orders UNION ALL SELECT order_id, 2, 'boleto', 3, 48.4 FROM olist.orders"
            )
    finally:
        await connection.close()
    response = await client.get("/v1/order-events", params={"limit": 1})
    event = response.json()["events"][0]
    assert event["order_purchase_timestamp"] == "2017-10-02T10:56:33+00:00"
    assert event["price"] == 58.9
    assert event["freight_value"] == 0
    assert event["payment_total"] == 58.9
    assert event["payment_types"] == ["boleto", "voucher"]
    assert event["payment_installments_max"] == 3
    assert '"price":58.9,' in response.text


async def test_order_committed_is_served_on_the_next_request(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await insert_orders(database_url, 5, seed=4)
    before = (await client.get("/v1/order-events", params={"limit": 5000})).json()
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            new_items = await insert_order(connection, random.Random(5))
    finally:
        await connection.close()
    after = (await client.get("/v1/order-events", params={"after": before["next_cursor"]})).json()
    assert len(after["events"]) == new_items
    assert [event["order_item_id"] for event in after["events"]] == list(range(1, new_items + 1))
    assert after["events"][0]["source_sequence"] == before["head_sequence"] + 1
    assert after["head_sequence"] == before["head_sequence"] + new_items
    assert after["has_more"] is False


async def test_rolled_back_order_leaves_a_sequence_gap_that_readers_step_over(
    client: httpx.AsyncClient, database_url: str
) -> None:
    connection = await asyncpg.connect(database_url)
    rng = random.Random(6)
    try:
        async with connection.transaction():
            first = await insert_order(connection, rng)
        transaction = connection.transaction()
        await transaction.start()
        lost = await insert_order(connection, rng)
        await transaction.rollback()
        async with connection.transaction():
            last = await insert_order(connection, rng)
    finally:
        await connection.close()
    events, _ = await read_feed(client, limit=1)
    assert [event["source_sequence"] for event in events] == [
        *range(1, first + 1),
        *range(first + lost + 1, first + lost + last + 1),
    ]


async def test_has_more_is_true_only_while_events_remain_after_the_page(
    client: httpx.AsyncClient, database_url: str
) -> None:
    total = await insert_orders(database_url, 10, seed=7)
    first = (await client.get("/v1/order-events", params={"limit": total - 1})).json()
    assert first["has_more"] is True
    second = (await client.get("/v1/order-events", params={"after": first["next_cursor"]})).json()
    assert len(second["events"]) == 1
    assert second["has_more"] is False
    exact = (await client.get("/v1/order-events", params={"limit": total})).json()
    assert exact["has_more"] is False


async def test_empty_page_returns_the_cursor_it_was_given(
    client: httpx.AsyncClient, database_url: str
) -> None:
    total = await insert_orders(database_url, 3, seed=8)
    for cursor in (encode_cursor(total), encode_cursor(total + 1000)):
        page = (await client.get("/v1/order-events", params={"after": cursor})).json()
        assert page == {
            "events": [],
            "next_cursor": cursor,
            "has_more": False,
            "head_sequence": total,
        }


async def test_default_limit_applies_when_limit_is_omitted(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await insert_orders(database_url, 700, seed=9)
    page = (await client.get("/v1/order-events")).json()
    assert page["head_sequence"] > 1000
    assert len(page["events"]) == 1000
    assert page["has_more"] is True


async def test_server_limits_come_from_settings(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    await insert_orders(database_url, 10, seed=10)
    api = start_api(
        database_url, extra_env={"OLIST_API_DEFAULT_LIMIT": "3", "OLIST_API_MAX_LIMIT": "10"}
    )
    async with httpx.AsyncClient(base_url=api.url) as http:
        assert len((await http.get("/v1/order-events")).json()["events"]) == 3
        assert len((await http.get("/v1/order-events?limit=10")).json()["events"]) == 10
        refused = await http.get("/v1/order-events?limit=11")
    assert refused.status_code == 422
    assert refused.json() == {
        "error": "invalid_limit",
        "message": "limit 11 is above this server's maximum; accepted: an integer from 1 to "
        "10 (OLIST_API_MAX_LIMIT)",
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "Input should be greater than or equal to 1, got '0'"),
        ("5001", "Input should be less than or equal to 5000, got '5001'"),
        ("ten", "Input should be a valid integer, unable to parse string as an integer, "
                "got 'ten'"),
        ("2.5", "Input should be a valid integer, unable to parse string as an integer, "
                "got '2.5'"),
    ],
)  # fmt: skip
async def test_bad_limit_is_refused_with_what_is_accepted(
    client: httpx.AsyncClient, value: str, problem: str
) -> None:
    response = await client.get("/v1/order-events", params={"limit": value})
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_limit",
        "message": f"query parameter 'limit' is invalid: {problem}; accepted: an integer "
        "from 1 to 5000; omit it for the server default",
    }


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("garbage!", "is not URL-safe base64"),
        ("AgAAAAAAAAAFAAAAAA", "has version 2, this API accepts version 1 only"),
        (encode_cursor(5)[:-3] + "AAA", "fails its checksum"),
        (encode_cursor(5)[:10], "decodes to 7 bytes, a version 1 cursor has 13"),
    ],
)
async def test_bad_cursor_is_refused_with_what_is_wrong(
    client: httpx.AsyncClient, cursor: str, reason: str
) -> None:
    response = await client.get("/v1/order-events", params={"after": cursor})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_cursor"
    assert reason in body["message"]
    assert body["message"].endswith(
        "expected the next_cursor value of a previous /v1/order-events response, passed back "
        "unchanged; omit 'after' to read from the beginning"
    )
