"""How the command line reads and writes moments and waits: UTC to the millisecond, durations, a count-down."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["countdown", "due_in", "duration_text", "epoch_ms", "when"]


def when(moment: datetime | None) -> str:
    """UTC, to the millisecond (what the API and the logs show); empty when unknown."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def countdown(seconds: float) -> str:
    """`27s`, `4m 05s`, `2h 03m`: whole units, as a count-down ticks."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def due_in(due_at: datetime | None, now: datetime | None) -> str:
    """`due in 27s` counted from `now`; `due now` once reached; `due at <UTC>` without a clock."""
    if due_at is None:
        return "due time unknown"
    if now is None:
        return f"due at {when(due_at)}"
    left = (due_at - now).total_seconds()
    # Under half a second the count-down would show 0s: the wake-up is firing, or about to.
    return "due now" if left < 0.5 else f"due in {countdown(left)}"


def epoch_ms(value: Any) -> float | None:
    """Epoch milliseconds from an ISO-8601 string (naive means UTC) or a number already in ms."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def duration_text(ms: float) -> str:
    """`12 ms`, `1.5 s`, `2 min 5 s`: short, and in the unit a person expects."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"
