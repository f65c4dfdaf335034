"""Retry policy as data: backoff with a cap and deterministic jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Jitter(StrEnum):
    """How a backoff delay is randomised so that many sagas do not retry in lock-step."""

    NONE = "none"
    FULL = "full"
    EQUAL = "equal"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When and how often a failed attempt is tried again.

    Attributes:
        max_attempts: total attempts, the first included (1 means no retry).
        initial_interval_ms: wait before the second attempt, before jitter.
        multiplier: growth factor of the wait per attempt.
        max_interval_ms: cap of any single wait, `Retry-After` included.
        jitter: randomisation of each wait.
    """

    max_attempts: int = 3
    initial_interval_ms: int = 200
    multiplier: float = 2.0
    max_interval_ms: int = 30_000
    jitter: Jitter = Jitter.FULL

    def allows_another(self, attempts_made: int) -> bool:
        """Whether an attempt may follow `attempts_made` attempts."""
        return attempts_made < self.max_attempts

    def backoff_ms(self, attempt: int) -> int:
        """The wait after failed attempt `attempt` (1-based), before jitter."""
        raw = self.initial_interval_ms * (self.multiplier ** max(0, attempt - 1))
        return int(min(float(self.max_interval_ms), raw))

    def delay_for(self, attempt: int, *, seed: str, retry_after_ms: int | None = None) -> int:
        """The wait after failed attempt `attempt`, jittered deterministically from `seed`.

        A participant's `Retry-After` replaces the computed backoff, capped at `max_interval_ms`.
        The seed (execution, step, direction, attempt) makes the same decision replayable.
        """
        if retry_after_ms is not None:
            return max(0, min(retry_after_ms, self.max_interval_ms))
        base = self.backoff_ms(attempt)
        if self.jitter is Jitter.NONE or base == 0:
            return base
        # Not for security: a seeded generator gives reproducible spread.
        rng = random.Random(seed)  # noqa: S311
        if self.jitter is Jitter.FULL:
            return rng.randint(0, base)
        half = base // 2
        return half + rng.randint(0, base - half)
