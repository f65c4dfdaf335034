"""Which executions this process drives: its owner id, its lease clock, and the leases it holds.

The database is the truth (owner, lease expiry and epoch live on the execution row). This object
only remembers when the leases were last renewed, so a process that was paused past its lease
stops sending calls before it learns, from a fenced write, that another replica took over.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from coordinator.ports import ExecutionRecord, Lease


@dataclass
class Ownership:
    """This process's identity as a lease holder."""

    lease_ms: int
    owner_id: str = field(default_factory=lambda: f"coordinator-{uuid.uuid4().hex[:12]}")
    renewed_at: float = field(default_factory=time.monotonic)

    def lease_of(self, record: ExecutionRecord) -> Lease | None:
        """Our lease on `record`, if we hold it."""
        if record.owner != self.owner_id:
            return None
        return Lease(owner=self.owner_id, epoch=record.epoch)

    def renewed(self, at: float | None = None) -> None:
        """Leases were extended in the database by a renewal sent at monotonic time `at` (now if None).

        The time the renewal was *sent*, not when its answer came: the database computed the new
        expiry somewhere in between, and a slow answer (a congested or lossy path) must not make
        this process believe its leases last longer than they do.
        """
        self.renewed_at = time.monotonic() if at is None else at

    def lapse_s(self) -> float | None:
        """How long ago the leases were last renewed, if that is too long to send calls; else None."""
        since = time.monotonic() - self.renewed_at
        return since if since * 1000 >= self.lease_ms * 0.8 else None

    def may_send(self) -> bool:
        """Whether our leases can still be live: a paused or cut-off process must not call out.

        Judged on the monotonic clock against the last successful renewal, with a margin, so a
        process never sends after the moment another replica may have taken its executions.
        """
        return (time.monotonic() - self.renewed_at) * 1000 < self.lease_ms * 0.8
