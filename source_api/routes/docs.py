"""/openapi.json, /docs and /redoc, behind the API key unless OLIST_API_AUTH_DOCS is false.

FastAPI's own documentation routes take no dependency, so the app disables them and serves
the same pages here: the OpenAPI document describes every route and parameter, which a
deployment may not want to show to anyone who can reach the port.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from source_api.deps import DocsKeyDep

router = APIRouter(include_in_schema=False, dependencies=[DocsKeyDep])


@router.get("/openapi.json")
async def openapi(request: Request) -> dict[str, Any]:
    """The app's OpenAPI document (what FastAPI serves at the same path by default)."""
    document: dict[str, Any] = request.app.openapi()
    return document


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - docs")


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc over /openapi.json."""
    return get_redoc_html(openapi_url="/openapi.json", title=f"{request.app.title} - ReDoc")
