"""Optional API key: /v1 requires X-API-Key when OLIST_API_KEY is set; probes stay open."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_orders

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = "s3cret-key-for-tests"


@pytest.fixture
async def protected_api(database_url: str, start_api: Callable[..., ApiProcess]) -> ApiProcess:
    await insert_orders(database_url, 3, seed=21)
    return start_api(database_url, api_key=KEY)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing X-API-Key header: this server requires an API key on /v1 routes; send "
             "it in the X-API-Key header"),
        ({"X-API-Key": "wrong"}, "wrong API key in the X-API-Key header; send the key "
                                 "configured on the server (OLIST_API_KEY)"),
        ({"X-API-Key": KEY + "x"}, "wrong API key in the X-API-Key header; send the key "
                                   "configured on the server (OLIST_API_KEY)"),
        ({"X-API-Key": ""}, "missing X-API-Key header: this server requires an API key on /v1 "
                            "routes; send it in the X-API-Key header"),
    ],
)  # fmt: skip
async def test_events_without_the_right_key_answer_401_without_data(
    protected_api: ApiProcess, headers: dict[str, str], message: str
) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        response = await client.get("/v1/order-events", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": message}
    assert "event_id" not in response.text


async def test_key_is_checked_before_the_parameters(protected_api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        response = await client.get("/v1/order-events", params={"after": "junk", "limit": 0})
    assert response.status_code == 401


async def test_events_with_the_right_key_answer_200(protected_api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        response = await client.get("/v1/order-events", headers={"X-API-Key": KEY})
    assert response.status_code == 200
    page = response.json()
    assert len(page["events"]) == page["head_sequence"] > 0


async def test_probes_and_metrics_need_no_key(protected_api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        statuses = [
            (await client.get(path)).status_code for path in ("/healthz", "/readyz", "/metrics")
        ]
    assert statuses == [200, 200, 200]


async def test_without_a_configured_key_any_or_no_header_is_served(
    api_server: ApiProcess,
) -> None:
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        bare = await client.get("/v1/order-events")
        with_header = await client.get("/v1/order-events", headers={"X-API-Key": "anything"})
    assert (bare.status_code, with_header.status_code) == (200, 200)
