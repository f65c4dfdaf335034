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

    def renewed(self) -> None:
        """Leases were just extended in the database."""
        self.renewed_at = time.monotonic()

    def may_send(self) -> bool:
        """Whether our leases can still be live: a paused or cut-off process must not call out.

        Judged on the monotonic clock against the last successful renewal, with a margin, so a
        process never sends after the moment another replica may have taken its executions.
        """
        return (time.monotonic() - self.renewed_at) * 1000 < self.lease_ms * 0.8
