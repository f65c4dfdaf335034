"""How the console writes times, durations and payloads (Jinja filters; pure functions)."""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

EXCERPT_CHARS = 4000
"""How much of a request or response body a page shows before cutting it (the API has it all)."""


def moment(ms: int | None) -> str:
    """Epoch milliseconds as `2026-12-03 09:03:00.123 UTC`; an em dash when unknown."""
    if ms is None:
        return "—"
    # A long execution's page writes thousands of moments, most within a few seconds of each
    # other: the second is formatted once (datetime + strftime was a tenth of drawing that page),
    # and integer arithmetic, unlike `ms / 1000`, never rounds .999 up to the next second.
    second, milli = divmod(int(ms), 1000)
    return f"{_second(second)}.{milli:03d} UTC"


@functools.lru_cache(maxsize=4096)
def _second(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@functools.lru_cache(maxsize=4096)
def duration(ms: float | None) -> str:
    """`12 ms`, `1.5 s`, `2 min 5 s`: short, in the unit a person expects (a long page repeats the
    same few durations thousands of times, so they are kept)."""
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
    """A JSON value indented for reading, keys sorted (text as it is); the template escapes it."""
    if isinstance(value, str):
        return value
    # msgspec (Litestar's JSON library) writes exactly what `json.dumps(indent=2)` does, some ten
    # times faster: the standard library drops its C encoder when asked to indent, and a page of
    # a long execution pretty-prints over a thousand bodies.
    try:
        text = msgspec.json.format(msgspec.json.encode(value, order="sorted"), indent=2).decode()
    except (TypeError, ValueError, OverflowError):
        return _pretty_by_the_standard_library(value)
    # Floats are where the two differ: msgspec writes NaN and infinities as null, 1e300 where the
    # standard library writes 1e+300, and 0.00001 for 1e-05. Such a float shows in the text; only
    # then look closer.
    if ("null" in text or "0.0000" in text or _EXPONENT.search(text)) and _has_odd_float(value):
        return _pretty_by_the_standard_library(value)
    return text


def _pretty_by_the_standard_library(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


_EXPONENT = re.compile(r"[0-9]e[-0-9]")
"""With plain substring searches for `null` and `0.0000`, whether the text may hold an odd float: half
the time of one pattern `null|[0-9]e[-0-9]`, which a long page ran over some 400 bodies."""


def _has_odd_float(value: Any) -> bool:
    """Whether `value` holds a float msgspec would write otherwise: not finite, or with an exponent."""
    if isinstance(value, float):
        return not math.isfinite(value) or "e" in repr(value)
    if isinstance(value, dict):
        return any(_has_odd_float(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_odd_float(v) for v in value)
    return False


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """`pretty(value)`, cut at `limit` characters with a note of how much was left out."""
    text = pretty(value)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def short_id(execution_id: str) -> str:
    """The first block of a UUID: enough to tell executions apart on a page."""
    return execution_id.split("-", 1)[0]
