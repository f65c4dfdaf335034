"""Shared request parameters: page sizes, `?wait=`, idempotency keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from litestar import Request

from coordinator.definition import parse_duration_ms
from coordinator.engine import SagaService
from coordinator.errors import InvalidInput, Problem
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import Telemetry

DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_VERSION = 2**31 - 1
"""The largest saga version (definitions refuse more); larger numbers never reach the database."""
MAX_INPUT_DEPTH = 64
"""How deeply a start request's input may nest, as for definitions: deeper input would exhaust the
recursion of the JSON and JSON Schema code that reads it later."""
MAX_NOTE = 2000
"""The longest operator note (resolve) kept in the history."""
CURSOR_HELP = "the next_cursor of the previous page; absent or empty for the first page"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def service_of(request: Request[Any, Any, Any]) -> SagaService:
    """The coordinator's service (the runtime is set by the app's lifespan): all the handlers use of it."""
    runtime: Runtime = request.app.state.runtime
    return runtime.service


def telemetry_of(request: Request[Any, Any, Any]) -> Telemetry:
    """The process's telemetry, for `/metrics`."""
    runtime: Runtime = request.app.state.runtime
    return runtime.telemetry


def max_wait_of(request: Request[Any, Any, Any]) -> float:
    """The longest `?wait=` the app's settings allow, in seconds."""
    settings: Settings = request.app.state.settings
    return settings.max_wait_seconds


def wait_seconds(value: str | None, maximum: float) -> float | None:
    """`?wait=10s` as seconds, capped at `maximum`; None when absent or empty."""
    if not value:
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


def checked_version(value: int | None) -> int | None:
    """A requested saga version, if it is in range (1 to 2^31-1)."""
    if value is not None and not 1 <= value <= MAX_VERSION:
        raise InvalidInput("invalid version", [Problem("version", f"must be between 1 and {MAX_VERSION}")])
    return value


def checked_depth(value: Any, path: str, limit: int = MAX_INPUT_DEPTH) -> Any:
    """`value` if it nests at most `limit` levels of lists and mappings."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:  # an explicit stack: the check itself must not recurse
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                raise InvalidInput("input nested too deeply", [Problem(path, f"nests more than {limit} levels")])
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def strict_fields(body: Any, shape: type, *, example: str) -> list[Problem]:
    """A problem per top-level field of a JSON `body` that the dataclass `shape` does not have.

    Bodies are decoded leniently (unknown fields dropped); a field the caller misspelt or forgot
    to wrap (`{"email": ...}` for `{"input": {"email": ...}}`) must be refused, not ignored.
    """
    known = {f.name for f in fields(shape)}
    if not isinstance(body, dict):
        return [Problem("$", f"must be a JSON object like {example}")]
    allowed = ", ".join(sorted(known))
    return [
        Problem(str(key), f"unknown field (allowed: {allowed}); the body looks like {example}")
        for key in body
        if key not in known
    ]


def known_only(given: Iterable[str], known: frozenset[str]) -> None:
    """Refuse a query parameter the endpoint does not have: a misspelt filter must not widen a list."""
    unknown = sorted(set(given) - known)
    if unknown:
        allowed = ", ".join(sorted(known))
        raise InvalidInput(
            f"unknown query parameter {unknown[0]!r}",
            [Problem(name, f"not a parameter of this list (known: {allowed})") for name in unknown],
        )


def epoch_ms(value: str | None, name: str) -> int | None:
    """An ISO 8601 time (a zone is required; `Z` for UTC) as epoch milliseconds; None when absent."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(
            f"invalid {name}", [Problem(name, "must be an ISO 8601 time with a zone, e.g. 2026-12-03T08:00:00Z")]
        )
    return int(parsed.timestamp() * 1000)
