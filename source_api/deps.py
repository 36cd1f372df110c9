"""FastAPI dependencies of the source API: settings, the asyncpg pool, the API key check.

The key travels in ``X-API-Key`` or as ``Authorization: Bearer <key>`` (what Prometheus sends);
two keys are accepted during a rotation (OLIST_API_KEY and OLIST_API_KEY_PREVIOUS).

Routes take them as ``Annotated`` aliases (``pool: PoolDep``), so each route signature stays
one line per input and the OpenAPI document shows the ``X-API-Key`` security scheme.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from source_api.errors import Unauthorized
from source_api.metrics import ApiMetrics
from source_api.read_ahead import ReadAhead
from source_api.settings import ApiSettings

API_KEY_HEADER = "X-API-Key"

# auto_error=False: the check below answers 401 in our error format.
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The API key (OLIST_API_KEY on the server); required unless the server "
    "runs with OLIST_API_AUTH_DISABLED=true.",
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


def _bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def key_matches(candidate: str, keys: tuple[SecretStr, ...]) -> bool:
    """Whether ``candidate`` is one of ``keys``, in time independent of where they differ.

    Every key is compared (no early exit), so timing tells neither how much of a key matched
    nor which of the two keys of a rotation did.
    """
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate.encode(), key.get_secret_value().encode())
    return matched


def check_api_key(settings: ApiSettings, api_key: str | None, authorization: str | None) -> None:
    """Refuse the request unless authentication is disabled or it carries a configured key."""
    if settings.api_auth_disabled:
        return
    candidate = api_key or _bearer_token(authorization)
    if candidate is None:
        raise Unauthorized(
            f"missing {API_KEY_HEADER} header: this server requires an API key; send it in "
            f"the {API_KEY_HEADER} header (or as 'Authorization: Bearer <key>')"
        )
    if not key_matches(candidate, settings.api_keys):
        raise Unauthorized(
            f"wrong API key in the {API_KEY_HEADER} header; send the key configured on the "
            "server (OLIST_API_KEY)"
        )


def require_api_key(
    settings: SettingsDep,
    api_key: Annotated[str | None, Security(api_key_header)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Route dependency: :func:`check_api_key` on ``X-API-Key`` or a bearer token."""
    check_api_key(settings, api_key, authorization)


def require_api_key_when(flag: str) -> Callable[..., None]:
    """A dependency that checks the key like :func:`require_api_key` when ``settings.<flag>``
    is true (``api_auth_metrics``, ``api_auth_docs``), and lets every request through otherwise."""

    def dependency(
        settings: SettingsDep,
        api_key: Annotated[str | None, Security(api_key_header)],
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> None:
        if getattr(settings, flag):
            check_api_key(settings, api_key, authorization)

    return dependency


ApiKeyDep = Depends(require_api_key)
"""Dependency for routers: ``APIRouter(dependencies=[ApiKeyDep])``."""
MetricsKeyDep = Depends(require_api_key_when("api_auth_metrics"))
"""Dependency of the /metrics router (the key only when OLIST_API_AUTH_METRICS is true)."""
DocsKeyDep = Depends(require_api_key_when("api_auth_docs"))
"""Dependency of the documentation routes (the key only when OLIST_API_AUTH_DOCS is true)."""
