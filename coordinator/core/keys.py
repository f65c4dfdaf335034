"""Stable identifiers derived from an execution: the same on every retry and after a restart."""

from __future__ import annotations

from coordinator.core.state import Direction


def idempotency_key(execution_id: str, step: str, direction: Direction) -> str:
    """The `Idempotency-Key` a participant sees for one step in one direction."""
    return f"{execution_id}:{step}:{direction.value}"


def jitter_seed(execution_id: str, step: str, direction: Direction, attempt: int) -> str:
    """The seed of the jitter for the wait after `attempt`, so decisions replay identically."""
    return f"{execution_id}:{step}:{direction.value}:{attempt}"


def wakeup_key(execution_id: str, step: int, direction: Direction) -> str:
    """The timer key of one step's wake-up: group members wait for their retries side by side."""
    return f"{execution_id}:{step}:{direction.value}"
