"""Liveness and readiness probes: /healthz (the process runs), /readyz (the database answers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from source_api.deps import PoolDep, SettingsDep
from source_api.models import HealthStatus
from source_api.pool import database_errors
from source_api.queries import READY_SQL
from source_db.connection import DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthStatus)
async def healthz() -> HealthStatus:
    """The process is alive and serving HTTP; the database is not consulted."""
    return HealthStatus(status="ok")


@router.get(
    "/readyz",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "The database does not answer."}},
)
async def readyz(pool: PoolDep, settings: SettingsDep) -> HealthStatus | JSONResponse:
    """The database answers a query within OLIST_API_READY_TIMEOUT seconds (503 otherwise)."""
    try:
        with database_errors("checking readiness"):
            await asyncio.wait_for(pool.fetchval(READY_SQL), settings.api_ready_timeout)
    except DatabaseUnavailable as error:
        body = HealthStatus(status="unavailable", message=str(error))
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthStatus(status="ok")
