"""Fuzzing the source API from its own OpenAPI document (issue 14 §5), with schemathesis.

Every operation the document lists gets inputs the schema allows and inputs it does not
(negative mode: wrong types, out-of-range limits, junk cursors, extra parameters, odd
headers), against a real API process on a real PostgreSQL with authentication on. Whatever the
input: no 500, no stack trace in a body, every error in the documented
``{"error", "message"}`` shape, and no answer but 401 without a valid key.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr

from source_api.app import create_app
from source_api.settings import ApiSettings
from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_orders

KEY = "fuzzing-key-0123456789"
OPEN_PATHS = {"/healthz", "/readyz"}

# The document as the app serves it (building the app opens nothing).
schema = schemathesis.openapi.from_dict(create_app(ApiSettings(api_key=SecretStr(KEY))).openapi())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=60,
    deterministic=True,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def fuzzed_api(database_url: str, start_api: Callable[..., ApiProcess]) -> ApiProcess:
    await insert_orders(database_url, 5, seed=3)
    return start_api(database_url, api_key=KEY)


def _assert_well_formed(response: schemathesis.Response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"}, body
        assert isinstance(body["error"], str) and body["error"]
        assert isinstance(body["message"], str) and body["message"]


@schema.parametrize()
@FUZZ
def test_any_input_with_the_key_never_fails_the_server_nor_breaks_the_error_shape(
    case: schemathesis.Case, fuzzed_api: ApiProcess
) -> None:
    headers = {str(name): value for name, value in (case.headers or {}).items()}
    headers["X-API-Key"] = KEY
    _assert_well_formed(case.call(base_url=fuzzed_api.url, headers=headers, timeout=30))


@schema.parametrize()
@FUZZ
def test_without_a_valid_key_every_protected_route_answers_401(
    case: schemathesis.Case, fuzzed_api: ApiProcess
) -> None:
    headers = {name: value for name, value in (case.headers or {}).items()
               if name.lower() not in ("x-api-key", "authorization")}  # fmt: skip
    headers["X-API-Key"] = "not-" + KEY
    response = case.call(base_url=fuzzed_api.url, headers=headers, timeout=30)
    _assert_well_formed(response)
    if case.path in OPEN_PATHS:
        return
    if case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    else:  # a method the route does not serve: refused before the key is looked at
        assert response.status_code == 405
