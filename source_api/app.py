"""The FastAPI application of the source API: ``create_app`` wires settings, pool and routes.

The lifespan opens the asyncpg pool before the first request and closes it after the last one:
uvicorn turns SIGTERM into "stop accepting, finish open requests, run lifespan shutdown", and
shutdown waits OLIST_API_SHUTDOWN_TIMEOUT seconds for the pool before terminating it. Between
the two runs the feed refresher (:mod:`source_api.feed_refresher`), stopped before the pool
closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from source_api.errors import ApiError
from source_api.feed_refresher import FeedRefresher
from source_api.metrics import ApiMetrics, MetricsMiddleware
from source_api.pool import close_pool, open_connection, open_pool
from source_api.queries import fetch_event_page
from source_api.read_ahead import ReadAhead
from source_api.routes import docs, events, health, metrics
from source_api.settings import ApiSettings
from source_db.connection import DatabaseUnavailable, redact_dsn

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app; the pool opens when the ASGI server starts it (lifespan)."""
    settings = settings or ApiSettings()
    app_metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings)
        app.state.pool = pool
        app_metrics.watch_pool(pool.get_size, pool.get_idle_size)
        read_ahead = ReadAhead(
            partial(fetch_event_page, pool),
            app_metrics.read_ahead,
            max_pages=settings.api_read_ahead_pages,
        )
        app.state.read_ahead = read_ahead
        feed_refresher = FeedRefresher(
            partial(open_connection, settings),
            app_metrics,
            rows=settings.api_feed_refresh_rows,
            interval=settings.api_feed_refresh_interval,
        )
        feed_refresher.start()
        if settings.api_auth_disabled:
            log.warning(
                "api authentication is disabled (OLIST_API_AUTH_DISABLED=true): every route "
                "answers without a key; for local development only"
            )
        log.info(
            "api started database=%s pool_min=%s pool_max=%s auth=%s default_limit=%s "
            "max_limit=%s read_ahead_pages=%s feed_refresh_rows=%s feed_refresh_interval_s=%s",
            redact_dsn(settings.dsn), settings.api_pool_min_size,
            settings.api_pool_max_size, _auth_summary(settings),
            settings.api_default_limit, settings.api_max_limit, settings.api_read_ahead_pages,
            settings.api_feed_refresh_rows, settings.api_feed_refresh_interval,
        )  # fmt: skip
        try:
            yield
        finally:
            await feed_refresher.stop()
            await read_ahead.close()
            await close_pool(pool, settings.api_shutdown_timeout)
            log.info("api stopped pool=closed")

    app = FastAPI(
        title="Olist source API",
        version="1",
        summary="Order-item events of the Olist source database, paged by an opaque cursor.",
        lifespan=lifespan,
        # Served by source_api.routes.docs instead, behind the key (OLIST_API_AUTH_DOCS).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.add_middleware(MetricsMiddleware, metrics=app_metrics)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.include_router(events.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    return app


def _auth_summary(settings: ApiSettings) -> str:
    """``off`` or ``on keys=N metrics=.. docs=..`` for the start-up line (never a key)."""
    if settings.api_auth_disabled:
        return "off"
    return (
        f"on keys={len(settings.api_keys)} metrics={'key' if settings.api_auth_metrics else 'open'}"
        f" docs={'key' if settings.api_auth_docs else 'open'}"
    )


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(error.body(), status_code=error.status_code)


HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own errors (unknown path, wrong method) in our error format."""
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_ERROR_CODES.get(error.status_code, f"http_{error.status_code}")
    message = (
        f"{request.method} {request.url.path} is not served here; see /openapi.json for the "
        "routes and their methods"
        if error.status_code in HTTP_ERROR_CODES
        else str(error.detail)
    )
    return JSONResponse(
        {"error": code, "message": message},
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 in our error format: PostgreSQL did not answer (transient: clients retry later)."""
    assert isinstance(error, DatabaseUnavailable)
    return JSONResponse({"error": "database_unavailable", "message": str(error)}, status_code=503)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """422 in our error format, naming the parameter, the value and what it accepts."""
    assert isinstance(error, RequestValidationError)
    problems = []
    names = []
    for problem in error.errors():
        location = problem.get("loc", ())
        name = str(location[-1]) if location else "request"
        names.append(name)
        where = f"{location[0]} parameter" if len(location) > 1 else "request"
        text = f"{where} '{name}' is invalid: {problem.get('msg')}, got {problem.get('input')!r}"
        accepted = events.ACCEPTED_PARAMETERS.get(name)
        problems.append(f"{text}; accepted: {accepted}" if accepted else text)
    code = f"invalid_{names[0]}" if len(set(names)) == 1 else "invalid_request"
    return JSONResponse({"error": code, "message": "; ".join(problems)}, status_code=422)
