"""The OpenAPI document describes the event route with the page model built on OrderEvent."""

from __future__ import annotations

import httpx
import pytest

from schemas import EVENT_FIELDS
from tests.fixtures.api import ApiProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_openapi_lists_the_event_route_with_the_page_model(api_server: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        document = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text

    operation = document["paths"]["/v1/order-events"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"after", "limit"}
    assert set(operation["responses"]) == {"200", "401", "422", "503"}
    page_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page_ref == "#/components/schemas/OrderEventPage"

    schemas = document["components"]["schemas"]
    page = schemas["OrderEventPage"]
    assert list(page["properties"]) == ["events", "next_cursor", "has_more", "head_sequence"]
    assert page["properties"]["events"]["items"]["$ref"] == "#/components/schemas/OrderEvent"
    assert tuple(schemas["OrderEvent"]["properties"]) == EVENT_FIELDS
    assert document["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key (OLIST_API_KEY on the server); required unless the server "
        "runs with OLIST_API_AUTH_DISABLED=true.",
    }
