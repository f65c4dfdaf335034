"""Durations as people write them (`250ms`, `5s`, `1m30s`, `30d`, or seconds) to milliseconds.

One vocabulary for saga definitions, `?wait=` and the `SAGA_*` settings (`SAGA_RETENTION=30d`).
Standard library only: `settings` reads it.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")

MAX_DURATION_MS = 366 * 24 * 3_600_000
"""No duration in a definition may exceed about a year: larger values are typos, and they keep
every stored due time within a 64-bit integer."""

_HINT = "use e.g. 250ms, 5s, 2m, 1h, 30d or a number of seconds"


def parse_duration_ms(value: Any) -> int:
    """Convert a duration to whole milliseconds (fractions of a millisecond are rounded).

    Accepts `250ms`, `5s`, `2m`, `1h`, `30d`, combinations such as `1m30s`, or a number of seconds given
    as an int, a float or a numeric string.

    Raises:
        ValueError: the value is not a duration, is negative, or exceeds MAX_DURATION_MS.
    """
    # bool is an int subclass; YAML turns `yes` into True, which is never meant as "1 second".
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a duration must be a string or a number of seconds, not {_kind(value)}: {_HINT}")
    ms = _parse_text(value) if isinstance(value, str) else _seconds_to_ms(float(value), repr(value))
    if ms > MAX_DURATION_MS:
        raise ValueError(f"duration {value!r} is too long: the maximum is 366 days")
    return ms


def format_duration_ms(ms: int) -> str:
    """A compact human form of `ms`, the inverse of `parse_duration_ms` for whole units."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def _parse_text(text: str) -> int:
    compact = text.strip()
    if _NUMBER.fullmatch(compact):
        return _seconds_to_ms(float(compact), repr(text))
    if compact.startswith("-"):
        raise ValueError(f"duration {text!r} must not be negative")
    if not _WHOLE.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration: {_HINT}")
    total = sum(float(number) * _UNIT_MS[unit] for number, unit in _PART.findall(compact))
    return round(total)


def _seconds_to_ms(seconds: float, shown: str) -> int:
    if not math.isfinite(seconds):
        raise ValueError(f"duration {shown} is not a finite number of seconds")
    if seconds < 0:
        raise ValueError(f"duration {shown} must not be negative")
    if seconds * 1_000 > MAX_DURATION_MS:
        raise ValueError(f"duration {shown} is too long: the maximum is 366 days")
    return round(seconds * 1_000)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
