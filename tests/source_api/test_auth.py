"""API keys: on by default, two keys during a rotation, /metrics and /docs behind the key too.

Probes stay open (Kubernetes calls them without a key); keys are compared in constant time and
never appear in a log line or a response.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_orders

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = "s3cret-key-for-tests"
PREVIOUS = "the-key-being-rotated-out"
MISSING = (
    "missing X-API-Key header: this server requires an API key; send it in the X-API-Key "
    "header (or as 'Authorization: Bearer <key>')"
)
WRONG = (
    "wrong API key in the X-API-Key header; send the key configured on the server (OLIST_API_KEY)"
)


@pytest.fixture
async def protected_api(database_url: str, start_api: Callable[..., ApiProcess]) -> ApiProcess:
    await insert_orders(database_url, 3, seed=21)
    return start_api(database_url, api_key=KEY, extra_env={"OLIST_API_KEY_PREVIOUS": PREVIOUS})


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, MISSING),
        ({"X-API-Key": ""}, MISSING),
        ({"Authorization": "Basic " + KEY}, MISSING),
        ({"X-API-Key": "wrong"}, WRONG),
        ({"X-API-Key": KEY + "x"}, WRONG),
        ({"X-API-Key": KEY[:-1]}, WRONG),
        ({"Authorization": "Bearer wrong"}, WRONG),
    ],
)
async def test_events_without_a_configured_key_answer_401_without_data(
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


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": KEY}, {"X-API-Key": PREVIOUS}, {"Authorization": f"Bearer {KEY}"}],
    ids=["current-key", "previous-key", "bearer-token"],
)
async def test_either_key_of_a_rotation_is_served(
    protected_api: ApiProcess, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        response = await client.get("/v1/order-events", headers=headers)
    assert response.status_code == 200
    page = response.json()
    assert len(page["events"]) == page["head_sequence"] > 0


@pytest.mark.parametrize("path", ["/metrics", "/openapi.json", "/docs", "/redoc"])
async def test_metrics_and_docs_need_the_key_by_default(
    protected_api: ApiProcess, path: str
) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        without = await client.get(path)
        with_key = await client.get(path, headers={"X-API-Key": KEY})
        as_bearer = await client.get(path, headers={"Authorization": f"Bearer {PREVIOUS}"})
    assert (without.status_code, with_key.status_code, as_bearer.status_code) == (401, 200, 200)
    assert without.json()["message"] == MISSING


async def test_probes_need_no_key(protected_api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        statuses = [(await client.get(path)).status_code for path in ("/healthz", "/readyz")]
    assert statuses == [200, 200]


async def test_metrics_and_docs_can_be_opened_by_configuration(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(
        database_url,
        api_key=KEY,
        extra_env={"OLIST_API_AUTH_METRICS": "false", "OLIST_API_AUTH_DOCS": "false"},
    )
    async with httpx.AsyncClient(base_url=api.url) as client:
        statuses = [
            (await client.get(path)).status_code
            for path in ("/metrics", "/openapi.json", "/docs", "/v1/order-events")
        ]
    assert statuses == [200, 200, 200, 401]


async def test_with_authentication_disabled_anything_is_served_and_the_log_warns(
    api_server: ApiProcess,
) -> None:
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        bare = await client.get("/v1/order-events")
        with_header = await client.get("/v1/order-events", headers={"X-API-Key": "anything"})
        metrics = await client.get("/metrics")
    assert (bare.status_code, with_header.status_code, metrics.status_code) == (200, 200, 200)
    assert "api authentication is disabled (OLIST_API_AUTH_DISABLED=true)" in api_server.log_tail()


async def test_no_key_appears_in_the_log(
    database_url: str, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(
        database_url,
        api_key=KEY,
        extra_env={"OLIST_API_KEY_PREVIOUS": PREVIOUS, "OLIST_API_ACCESS_LOG": "true"},
    )
    async with httpx.AsyncClient(base_url=api.url) as client:
        for headers in ({"X-API-Key": KEY}, {"X-API-Key": "guess-" + KEY}, {}):
            await client.get("/v1/order-events", headers=headers)
    log = api.log_tail(1_000_000)
    assert "auth=on keys=2 metrics=key docs=key" in log
    assert KEY not in log
    assert PREVIOUS not in log


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/v1/order-events", 405, "method_not_allowed"),
    ],
)
async def test_unknown_routes_and_methods_answer_in_the_error_shape(
    protected_api: ApiProcess, method: str, path: str, status: int, error: str
) -> None:
    async with httpx.AsyncClient(base_url=protected_api.url) as client:
        response = await client.request(method, path, headers={"X-API-Key": KEY})
    assert response.status_code == status
    assert response.json() == {
        "error": error,
        "message": f"{method} {path} is not served here; see /openapi.json for the routes and "
        "their methods",
    }
