"""Shared request parameters: page sizes, `?wait=`, idempotency keys."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request

from coordinator.definition import parse_duration_ms
from coordinator.errors import InvalidInput, Problem
from coordinator.runtime import Runtime

DEFAULT_PAGE = 50
MAX_PAGE = 500
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    """The process's runtime, set by the app's lifespan."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def wait_seconds(value: str | None, maximum: float) -> float | None:
    """`?wait=10s` as seconds, capped at `maximum`; None when absent."""
    if value is None:
        return None
    try:
        ms = parse_duration_ms(value)
    except ValueError as error:
        raise InvalidInput("invalid wait", [Problem("wait", str(error))]) from None
    return min(ms / 1000, maximum)


def checked_idempotency_key(value: str | None) -> str | None:
    """The `Idempotency-Key` header, if it is 1-255 visible ASCII characters."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.match(value):
        raise InvalidInput(
            "invalid Idempotency-Key header",
            [Problem("headers.Idempotency-Key", "must be 1 to 255 visible ASCII characters")],
        )
    return value
