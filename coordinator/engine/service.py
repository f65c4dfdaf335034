"""The application service: everything the HTTP API (and a console) asks of the coordinator, in one place."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from coordinator.core.spec import SagaSpec
from coordinator.core.state import CallbackOutcome, ExecutionStatus
from coordinator.definition import OutputResult, render_output
from coordinator.engine.bulk import BulkAction, BulkActions, BulkFilter, BulkReport
from coordinator.engine.callbacks import CallbackAnswer, Callbacks
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.operations import Operations
from coordinator.errors import InvalidInput, NotFound, StoreUnavailable
from coordinator.ports import ExecutionQuery, ExecutionRecord, Page, StoredDefinition, StoredEvent


class SagaService:
    """Register and read definitions; start, read, cancel, retry and await executions; readiness.

    Callers never reach the store, registry or engine behind it: what they may do is what is here.
    """

    def __init__(self, parts: Collaborators, operations: Operations, callbacks: Callbacks) -> None:
        self._parts = parts
        self._operations = operations
        self._callbacks = callbacks
        self._bulk = BulkActions(parts, operations)

    # -- definitions ---------------------------------------------------------------------------

    async def register(self, document: Mapping[str, Any]) -> tuple[StoredDefinition, bool]:
        """Validate and store a definition; the stored version and whether it is new (see DefinitionRegistry)."""
        return await self._parts.registry.register(document)

    async def list_sagas(self, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """The latest version of every saga, by name."""
        return await self._parts.store.list_definitions(limit=limit, cursor=cursor)

    async def saga(self, name: str, version: int | None = None) -> StoredDefinition:
        """One version of a saga, the latest when `version` is None. Raises SagaNotFound, SagaVersionNotFound."""
        return await self._parts.registry.definition(name, version)

    async def list_versions(self, name: str, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """Every version of `name`, newest first. Raises SagaNotFound."""
        return await self._parts.store.list_versions(name, limit=limit, cursor=cursor)

    # -- executions ----------------------------------------------------------------------------

    async def start(
        self,
        saga: str,
        input_: Any,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        trace_headers: Mapping[str, str] | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Start an execution; the record and whether it is new (see Operations.start)."""
        return await self._operations.start(
            saga, input_, version=version, idempotency_key=idempotency_key, trace_headers=trace_headers
        )

    async def execution(self, execution_id: str) -> ExecutionRecord:
        """The execution as last committed. Raises ExecutionNotFound."""
        return await self._parts.store.load_execution(execution_id)

    async def list_executions(
        self,
        *,
        saga: str | None = None,
        status: ExecutionStatus | None = None,
        key: str | None = None,
        id_prefix: str | None = None,
        created_after_ms: int | None = None,
        created_before_ms: int | None = None,
        attention: bool = False,
        limit: int,
        cursor: str | None = None,
        brief: bool = False,
    ) -> Page[ExecutionRecord]:
        """Executions, newest first, narrowed by every filter given (see `ExecutionQuery`).

        `attention` keeps those that need an operator now: failed, quarantined, or stalled.
        `brief` leaves out each step's response and last exchange (see `SagaStore.list_executions`).
        """
        query = ExecutionQuery(
            saga=saga,
            status=status,
            key=key,
            id_prefix=id_prefix,
            created_after_ms=created_after_ms,
            created_before_ms=created_before_ms,
            attention_at_ms=self.now_ms() if attention else None,
        )
        return await self._parts.store.list_executions(query, limit=limit, cursor=cursor, brief=brief)

    def now_ms(self) -> int:
        """The coordinator's clock: what `attention_reason` of a record is judged against."""
        return self._parts.clock.now_ms()

    async def count_by_status(self, *, saga: str | None = None) -> dict[ExecutionStatus, int]:
        """How many executions are in each status, of one saga when given (absent statuses: none)."""
        return await self._parts.store.count_by_status(saga=saga)

    async def list_events(
        self, execution_id: str, *, after_seq: int = 0, limit: int, exchanges: bool = True
    ) -> Page[StoredEvent]:
        """History entries after `after_seq`, oldest first (without what was said unless `exchanges`).

        Raises ExecutionNotFound.
        """
        return await self._parts.store.list_events(execution_id, after_seq=after_seq, limit=limit, exchanges=exchanges)

    async def events_at(self, execution_id: str, seqs: Collection[int]) -> list[StoredEvent]:
        """The history entries at positions `seqs`, in full, oldest first. Raises ExecutionNotFound."""
        return await self._parts.store.events_at(execution_id, seqs)

    async def cancel(self, execution_id: str) -> ExecutionRecord:
        """Stop the forward phase and roll back. Raises ExecutionStateConflict when it cannot be cancelled."""
        return await self._operations.cancel(execution_id)

    async def retry(self, execution_id: str) -> ExecutionRecord:
        """Retry the compensations of a `failed` execution, or release a quarantined one."""
        return await self._operations.retry(execution_id)

    async def resolve(self, execution_id: str, step: str, *, note: str, actor: str | None) -> ExecutionRecord:
        """Mark `step`'s failed compensation as done by an operator and carry the rollback on (see Operations)."""
        return await self._operations.resolve(execution_id, step, note=note, actor=actor)

    async def spec_of(self, record: ExecutionRecord) -> SagaSpec | None:
        """The compiled saga version `record` runs (its groups and pivot, for views of its steps);
        None when that version is not stored or no longer compiles under today's rules (a view then
        shows no groups rather than failing)."""
        try:
            return await self._parts.registry.spec(record.state.saga, record.state.version)
        except (NotFound, InvalidInput):
            return None

    async def output(self, record: ExecutionRecord) -> OutputResult | None:
        """A completed execution's output (its `output:` template, else the last step's body); None before."""
        if record.state.status is not ExecutionStatus.COMPLETED:
            return None
        spec = await self._parts.registry.spec(record.state.saga, record.state.version)
        return render_output(spec, record.state)

    async def bulk(self, action: BulkAction, selection: BulkFilter, *, dry_run: bool = False) -> BulkReport:
        """Cancel or retry every execution `selection` picks, each on its own (see BulkActions)."""
        return await self._bulk.run(action, selection, dry_run=dry_run)

    async def wait_terminal(self, execution_id: str, timeout_s: float) -> ExecutionRecord:
        """The execution once terminal, or as it stands after `timeout_s`."""
        return await self._operations.wait_terminal(execution_id, timeout_s)

    async def watch(self, execution_id: str, after_revision: int, timeout_s: float) -> ExecutionRecord | None:
        """The execution once its revision is past `after_revision`; None after `timeout_s` without a change.

        For live views: woken by this process's own commits, so a watcher costs no query per second.
        Raises ExecutionNotFound.
        """
        return await self._operations.watch(execution_id, after_revision, timeout_s)

    # -- callbacks of asynchronous participants ---------------------------------------------------

    async def callback(
        self, token: str, outcome: CallbackOutcome | None, *, body: Any = None, error: str | None = None
    ) -> CallbackAnswer:
        """Record a participant's callback (or, with `outcome` None, its heartbeat); see Callbacks.report."""
        return await self._callbacks.report(token, outcome, body=body, error=error)

    def listening(self, public_url: str) -> None:
        """Where participants reach this coordinator, once known (`saga serve --port 0`), unless
        `SAGA_PUBLIC_URL` said so."""
        self._parts.callback_tokens.public_url = public_url.rstrip("/")

    # -- health --------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Return if the database answers; raise StoreUnavailable if not."""
        await self._parts.store.ping()

    async def readiness(self) -> str | None:
        """Why this coordinator should get no traffic now, or None when it is ready.

        Not ready while its leases may have lapsed (it sends no call then: a partition from the
        database, a long pause) even if the database answers again, and while the database does
        not answer or cannot take writes (see `SagaStore.ping`).
        """
        ownership = self._parts.ownership
        lapse = ownership.lapse_s()
        if lapse is not None:
            return (
                f"leases not renewed for {lapse:.1f} s (the lease is {ownership.lease_ms / 1000:g} s): "
                "no call is sent until a renewal succeeds"
            )
        try:
            await self._parts.store.ping()
        except StoreUnavailable as error:
            return error.detail
        return None
