"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from coordinator.api.params import service_of, telemetry_of
from coordinator.api.problems import problem, problem_responses
from coordinator.api.schemas import Health
from coordinator.errors import StoreUnavailable


@get("/healthz", summary="Liveness", tags=["health"])
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@get(
    "/readyz",
    summary="Readiness: the database answers",
    tags=["health"],
    responses=problem_responses(503),
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    """200 when the database answers, 503 problem+json when it does not."""
    try:
        await service_of(request).ping()
    except StoreUnavailable as error:
        return problem(503, "Not ready", error.detail, code="not_ready", headers={"Retry-After": "5"})
    return Response(Health(status="ready"))


@get("/metrics", summary="Prometheus metrics", tags=["health"], media_type="text/plain; version=0.0.4")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Executions, attempts, durations and work in flight, in the Prometheus text format."""
    return Response(telemetry_of(request).prometheus_text(), media_type="text/plain; version=0.0.4")
