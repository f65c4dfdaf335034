"""Everything the engine's parts work with, gathered once and handed to each of them."""

from __future__ import annotations

import secrets as random_bytes
from dataclasses import dataclass, field

from coordinator.engine.callback_tokens import CallbackTokens
from coordinator.engine.calls import CallPool
from coordinator.engine.faults import NO_FAULTS, FaultPoints
from coordinator.engine.ownership import Ownership
from coordinator.engine.registry import DefinitionRegistry
from coordinator.engine.secrets import SecretSource
from coordinator.ports import (
    ArchiveWriter,
    Clock,
    ExecutionObserver,
    NullObserver,
    NullTraceContexts,
    SagaStore,
    StepExecutor,
    TimerService,
    TraceContexts,
)


@dataclass(frozen=True, kw_only=True)
class Collaborators:
    """The store, executor, timers, clock and the rest that one engine runs on; wired once, never replaced."""

    store: SagaStore
    registry: DefinitionRegistry
    executor: StepExecutor
    timers: TimerService
    clock: Clock
    secrets: SecretSource
    calls: CallPool = field(default_factory=CallPool)
    observer: ExecutionObserver = field(default_factory=NullObserver)
    traces: TraceContexts = field(default_factory=NullTraceContexts)
    ownership: Ownership = field(default_factory=lambda: Ownership(lease_ms=15_000))
    faults: FaultPoints = field(default_factory=lambda: NO_FAULTS)
    callback_tokens: CallbackTokens = field(
        default_factory=lambda: CallbackTokens(random_bytes.token_bytes(32), "http://127.0.0.1:8080")
    )
    """Mints the callback URLs of asynchronous calls and verifies the callbacks (SPEC section 7.3)."""
    max_response_bytes: int = 256 * 1024
    """The largest participant answer kept (`SAGA_MAX_RESPONSE_BYTES`); a callback's body too."""
    max_recovery_attempts: int = 5
    """Resumptions without progress before recovery quarantines an execution."""
    retention_ms: int | None = None
    """Delete executions that finished well longer ago than this (`SAGA_RETENTION`); None keeps all."""
    archive: ArchiveWriter | None = None
    """Where retention writes each execution before deleting it (`SAGA_ARCHIVE_DIR`)."""
