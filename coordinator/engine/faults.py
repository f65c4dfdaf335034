"""Named crash points for fault tests: `os._exit` at a chosen line of the load-decide-commit-dispatch cycle.

Off unless `SAGA_FAULT_POINT` is set (test runs only). `SAGA_FAULT_NTH=k` crashes at the k-th hit;
`SAGA_FAULT_TARGET` limits hits to one execution id or saga name (a "poison" execution).

Points: `load` (after loading, before deciding), `before_commit`, `after_commit` (before dispatch),
`before_send`, `after_response` (the outcome is known, not yet committed), `after_create` (a new
execution is stored, the start request not yet answered).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

log = logging.getLogger("coordinator.faults")
CRASH_EXIT_CODE = 137


@dataclass
class FaultPoints:
    """Where (if anywhere) this process should crash on purpose."""

    points: frozenset[str] = frozenset()
    nth: int = 1
    target: str | None = None
    _hits: dict[str, int] = field(default_factory=dict)

    def hit(self, point: str, *, execution_id: str | None = None, saga: str | None = None) -> None:
        """Crash the process here if this point is armed and its turn has come."""
        if point not in self.points:
            return
        if self.target is not None and self.target not in (execution_id, saga):
            return
        self._hits[point] = self._hits.get(point, 0) + 1
        if self._hits[point] >= self.nth:
            log.critical("crash point %s hit (execution %s): exiting", point, execution_id)
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)


NO_FAULTS = FaultPoints()
