"""/metrics counts requests by route and status, observes latency and counts events served."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_orders

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _samples(
    client: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests(route: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"method": "GET", "route": route, "status": status}
    return "olist_api_requests_total", tuple(sorted(labels.items()))


async def test_metrics_count_requests_latency_and_events_served(
    api_server: ApiProcess, database_url: str
) -> None:
    total = await insert_orders(database_url, 30, seed=41)
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        before = await _samples(client)
        first = (await client.get("/v1/order-events", params={"limit": 10})).json()
        await client.get("/v1/order-events", params={"after": first["next_cursor"]})
        await client.get("/v1/order-events", params={"limit": 0})
        await client.get("/no/such/path")
        after = await _samples(client)

    assert before.get(("olist_api_events_served_total", ()), 0.0) == 0.0
    assert after[("olist_api_events_served_total", ())] == total
    assert after[_requests("/v1/order-events", "200")] == 2
    assert after[_requests("/v1/order-events", "422")] == 1
    assert after[_requests("unmatched", "404")] == 1
    # Every /metrics scrape before this one, and none of this one, is counted.
    assert after[_requests("/metrics", "200")] == before.get(_requests("/metrics", "200"), 0) + 1
    latency_count = (
        "olist_api_request_duration_seconds_count",
        (("method", "GET"), ("route", "/v1/order-events")),
    )
    assert after[latency_count] == 3
    assert after[("olist_api_pool_connections", (("state", "in_use"),))] == 0
    assert after[("olist_api_pool_connections", (("state", "idle"),))] >= 1
