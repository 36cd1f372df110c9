"""/metrics: the app's Prometheus registry in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from source_api.deps import MetricsDep, MetricsKeyDep

router = APIRouter(tags=["metrics"], dependencies=[MetricsKeyDep])


@router.get("/metrics", response_class=Response)
async def metrics(app_metrics: MetricsDep) -> Response:
    """Request counts by route and status, latency histogram, events served, pool usage."""
    return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
