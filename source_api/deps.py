"""FastAPI dependencies of the source API: settings, the asyncpg pool, the API key check.

Routes take them as ``Annotated`` aliases (``pool: PoolDep``), so each route signature stays
one line per input and the OpenAPI document shows the ``X-API-Key`` security scheme.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import asyncpg
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from source_api.errors import Unauthorized
from source_api.metrics import ApiMetrics
from source_api.read_ahead import ReadAhead
from source_api.settings import ApiSettings

API_KEY_HEADER = "X-API-Key"

# auto_error=False: the check below answers 401 in our error format (and only when a key is set).
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required on /v1 routes when the server runs with OLIST_API_KEY set.",
)


def get_settings(request: Request) -> ApiSettings:
    """The settings the app was created with."""
    settings: ApiSettings = request.app.state.settings
    return settings


def get_pool(request: Request) -> asyncpg.Pool:
    """The asyncpg pool opened by the app's lifespan."""
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def get_metrics(request: Request) -> ApiMetrics:
    """The app's metrics."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def get_read_ahead(request: Request) -> ReadAhead:
    """The page reader with read-ahead, created by the app's lifespan."""
    read_ahead: ReadAhead = request.app.state.read_ahead
    return read_ahead


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
ReadAheadDep = Annotated[ReadAhead, Depends(get_read_ahead)]


def require_api_key(
    settings: SettingsDep, api_key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """Refuse the request unless no key is configured or ``X-API-Key`` matches it."""
    expected = settings.api_key
    if expected is None:
        return
    if api_key is None:
        raise Unauthorized(
            f"missing {API_KEY_HEADER} header: this server requires an API key on /v1 routes; "
            f"send it in the {API_KEY_HEADER} header"
        )
    # Constant-time comparison: response timing must not reveal how much of the key matched.
    if not hmac.compare_digest(api_key.encode(), expected.get_secret_value().encode()):
        raise Unauthorized(
            f"wrong API key in the {API_KEY_HEADER} header; send the key configured on the "
            "server (OLIST_API_KEY)"
        )


ApiKeyDep = Depends(require_api_key)
"""Dependency for routers: ``APIRouter(dependencies=[ApiKeyDep])``."""
