"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

from coordinator.api.params import service_of, telemetry_of
from coordinator.api.problems import problem, problem_responses
from coordinator.api.schemas import Health

READY_WITHIN_S = 1.5
"""The longest /readyz takes: a probe that hangs is an answer too (503), and load balancers and
orchestrators give up on a silent endpoint after a second or two."""


@get("/healthz", summary="Liveness", tags=["health"])
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@get(
    "/readyz",
    summary="Readiness: the database answers and takes writes; leases are fresh",
    tags=["health"],
    responses=problem_responses(503),
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    """200 when the database answers and takes writes, and the leases are fresh; else 503
    problem+json saying why. Answers within `READY_WITHIN_S` whatever the database does."""
    try:
        reason = await asyncio.wait_for(service_of(request).readiness(), READY_WITHIN_S)
    except TimeoutError:
        reason = f"the database did not answer within {READY_WITHIN_S:g} s"
    if reason is not None:
        return problem(503, "Not ready", reason, code="not_ready", headers={"Retry-After": "5"})
    return Response(Health(status="ready"))


@get("/metrics", summary="Prometheus metrics", tags=["health"], media_type="text/plain; version=0.0.4")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Executions, attempts, durations and work in flight, in the Prometheus text format."""
    return Response(telemetry_of(request).prometheus_text(), media_type="text/plain; version=0.0.4")
