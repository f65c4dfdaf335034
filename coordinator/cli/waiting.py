"""What a waiting execution waits for: one phrase for `get`, `watch` and `start --wait`, so they
agree, and it counts down live because it is computed from the due time and the present moment."""

from __future__ import annotations

from datetime import datetime

from coordinator.cli.moments import due_in
from coordinator.client.models import NextAttempt
from coordinator.core.state import Direction

__all__ = ["waiting_for"]


def waiting_for(next_attempt: NextAttempt, now: datetime | None) -> str:
    """`waiting for attempt 2 of charge, due in 27s; attempt 1: HTTP 503: warming up`."""
    kind = "compensation attempt" if next_attempt.direction == Direction.COMPENSATION else "attempt"
    text = f"waiting for {kind} {next_attempt.attempt} of {next_attempt.step}, {due_in(next_attempt.due_at, now)}"
    return f"{text}; {next_attempt.reason}" if next_attempt.reason else text
