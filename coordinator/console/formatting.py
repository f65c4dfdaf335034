"""How the console writes times, durations and payloads (Jinja filters; pure functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

EXCERPT_CHARS = 4000
"""How much of a request or response body a page shows before cutting it (the API has it all)."""


def moment(ms: int | None) -> str:
    """Epoch milliseconds as `2026-12-03 09:03:00.123 UTC`; an em dash when unknown."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def duration(ms: float | None) -> str:
    """`12 ms`, `1.5 s`, `2 min 5 s`: short, in the unit a person expects."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"
    return f"{int(ms // 3_600_000)} h {int(ms % 3_600_000 // 60_000)} min"


def pretty(value: Any) -> str:
    """A JSON value indented for reading (text as it is); the template escapes it."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """`pretty(value)`, cut at `limit` characters with a note of how much was left out."""
    text = pretty(value)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def short_id(execution_id: str) -> str:
    """The first block of a UUID: enough to tell executions apart on a page."""
    return execution_id.split("-", 1)[0]
