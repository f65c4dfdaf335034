"""One process's engine, assembled from one set of collaborators: its cycle, recovery and service."""

from __future__ import annotations

from coordinator.engine.callbacks import Callbacks
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.cycle import EventCycle
from coordinator.engine.housekeeping import Housekeeping
from coordinator.engine.operations import Operations
from coordinator.engine.recovery import Recovery
from coordinator.engine.service import SagaService


class Engine:
    """The parts that drive executions, wired to each other once. Nothing runs until `start`."""

    def __init__(self, parts: Collaborators) -> None:
        self.cycle = EventCycle(parts)
        self.recovery = Recovery(parts, self.cycle)
        self.service = SagaService(parts, Operations(parts, self.cycle), Callbacks(parts, self.cycle))
        self.housekeeping = Housekeeping(parts)
        self.callback_tokens = parts.callback_tokens
        """Mints and verifies this engine's callback tokens (its key and public URL)."""

    def start(self, *, sweep_seconds: float, take_over_all: bool = False) -> None:
        """Fire wake-ups, renew and sweep leases, recover what gone processes left (see Recovery.start),
        and keep house (see Housekeeping)."""
        self.housekeeping.schedule()
        self.recovery.start(sweep_seconds=sweep_seconds, take_over_all=take_over_all)

    async def close(self, grace_s: float = 0.0) -> None:
        """Stop timers, let calls in flight finish (up to `grace_s`), release our leases (see Recovery.close)."""
        await self.recovery.close(grace_s)
