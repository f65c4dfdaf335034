"""An in-memory `SagaStore`: the fake the unit tests use, held to the same contract suite.

It keeps the very rows the SQL store writes (built by `codec`), so serialisation quirks, such as
JSON turning tuples into lists, show up in unit tests exactly as they would in production.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace

from coordinator.core.history import HistoryEvent
from coordinator.core.state import ExecutionState, ExecutionStatus
from coordinator.errors import (
    DefinitionConflict,
    ExecutionNotFound,
    Fenced,
    IdempotencyConflict,
    SagaNotFound,
    SagaVersionNotFound,
    StaleRevision,
    StoreUnavailable,
)
from coordinator.ports import (
    EVERY_EXECUTION,
    ArchiveWriter,
    AttentionCount,
    AttentionReason,
    Claim,
    ExecutionQuery,
    ExecutionRecord,
    Lease,
    Page,
    Purged,
    Resumption,
    SagaStore,
    StoredDefinition,
    StoredEvent,
)
from coordinator.store import codec, paging
from coordinator.store.archive import archive_line
from coordinator.store.codec import DELETABLE, UNFINISHED_STATUSES, Row


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryStore(SagaStore):
    """Everything in dicts; lost when the process ends.

    Each method does its work without awaiting in the middle, so it is atomic on one event loop;
    it yields once first, so concurrent callers interleave as they would against a database.
    """

    def __init__(self) -> None:
        self._definitions: dict[tuple[str, int], Row] = {}
        self._server_keys: dict[str, str] = {}
        self._executions: dict[str, Row] = {}
        self._steps: dict[str, list[Row]] = {}
        self._events: dict[str, list[Row]] = {}
        self._pending: dict[str, list[Row]] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._closed = False

    async def _enter(self) -> None:
        await asyncio.sleep(0)
        if self._closed:
            raise StoreUnavailable("the store is closed")

    # -- definitions ---------------------------------------------------------------------------

    async def add_definition(self, definition: StoredDefinition) -> tuple[StoredDefinition, bool]:
        """See `SagaStore.add_definition`."""
        await self._enter()
        key = (definition.name, definition.version)
        existing = self._definitions.get(key)
        if existing is not None:
            if existing["digest"] != definition.digest:
                raise DefinitionConflict(
                    f"saga {definition.name!r} version {definition.version} is already registered with a different body"
                )
            return codec.definition_from_row(existing), False
        row = codec.definition_row(definition)
        self._definitions[key] = row
        return codec.definition_from_row(row), True

    def _versions(self, name: str) -> list[Row]:
        """Every version of `name`, newest first."""
        rows = [row for (n, _), row in self._definitions.items() if n == name]
        return sorted(rows, key=lambda r: int(r["version"]), reverse=True)

    async def get_definition(self, name: str, version: int | None = None) -> StoredDefinition:
        """See `SagaStore.get_definition`."""
        await self._enter()
        versions = self._versions(name)
        if not versions:
            raise SagaNotFound(name)
        if version is None:
            return codec.definition_from_row(versions[0])
        row = self._definitions.get((name, version))
        if row is None:
            raise SagaVersionNotFound(name, version)
        return codec.definition_from_row(row)

    async def list_definitions(self, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """See `SagaStore.list_definitions`."""
        await self._enter()
        paging.check_limit(limit)
        after = paging.decode_definition_cursor(cursor) if cursor is not None else None
        names = sorted({n for n, _ in self._definitions if after is None or n > after})
        latest = [codec.definition_from_row(self._versions(n)[0]) for n in names[: limit + 1]]
        return paging.page_of(latest, limit, lambda d: paging.definition_cursor(d.name))

    async def list_versions(self, name: str, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """See `SagaStore.list_versions`."""
        await self._enter()
        paging.check_limit(limit)
        before = paging.decode_version_cursor(cursor, name) if cursor is not None else None
        versions = self._versions(name)
        if not versions:
            raise SagaNotFound(name)
        rows = [r for r in versions if before is None or r["version"] < before][: limit + 1]
        found = [codec.definition_from_row(r) for r in rows]
        return paging.page_of(found, limit, lambda d: paging.version_cursor(d.name, d.version))

    # -- executions ----------------------------------------------------------------------------

    def _record(self, execution_id: str, *, brief: bool = False) -> ExecutionRecord:
        row = self._executions.get(execution_id)
        if row is None:
            raise ExecutionNotFound(execution_id)
        steps = self._steps[execution_id]
        if brief:
            steps = [codec.brief_step_row(step) for step in steps]
        return codec.record_from_rows(row, steps, self._pending.get(execution_id, []))

    async def create_execution(
        self,
        record: ExecutionRecord,
        history: tuple[HistoryEvent, ...],
        *,
        owner: str | None = None,
        lease_ms: int = 0,
    ) -> tuple[ExecutionRecord, bool]:
        """See `SagaStore.create_execution`."""
        await self._enter()
        state = record.state
        key = record.idempotency_key
        if key is not None and (existing_id := self._by_key.get((state.saga, key))) is not None:
            existing = self._record(existing_id)
            if existing.request_digest != record.request_digest:
                raise IdempotencyConflict(f"idempotency key {key!r} was used with a different request")
            return existing, False
        if state.id in self._executions:
            raise ValueError(f"execution {state.id!r} already exists")
        # Build every row before storing any, so a value that cannot be serialised stores nothing.
        if owner is not None:
            record = replace(record, owner=owner, epoch=1)
        row = codec.execution_row(record)
        if owner is not None:
            row["lease_until_ms"] = _now_ms() + lease_ms
        steps = codec.step_rows(state)
        events = codec.event_rows(state.id, 1, history)
        pending = codec.pending_rows(state)
        self._executions[state.id] = row
        self._steps[state.id] = steps
        self._events[state.id] = events
        if pending:
            self._pending[state.id] = pending
        if key is not None:
            self._by_key[(state.saga, key)] = state.id
        return codec.as_stored(record), True

    async def load_execution(self, execution_id: str) -> ExecutionRecord:
        """See `SagaStore.load_execution`."""
        await self._enter()
        return self._record(execution_id)

    async def commit(
        self,
        state: ExecutionState,
        history: tuple[HistoryEvent, ...],
        *,
        expected_revision: int,
        lease: Lease | None = None,
        previous: ExecutionState | None = None,
    ) -> ExecutionState:
        """See `SagaStore.commit`; a missing execution raises ExecutionNotFound (`previous` is not needed here)."""
        await self._enter()
        row = self._executions.get(state.id)
        if row is None:
            raise ExecutionNotFound(state.id)
        if row["revision"] != expected_revision:
            raise StaleRevision(f"execution {state.id!r} is at revision {row['revision']}, not {expected_revision}")
        if lease is not None:
            if (row["owner"], row["epoch"]) != (lease.owner, lease.epoch):
                raise Fenced(f"execution {state.id!r} is owned by {row['owner']} at epoch {row['epoch']}")
            row["recovery_attempts"] = 0
        committed = replace(state, revision=expected_revision + 1)
        changes = codec.execution_changes(committed, committed.revision)
        steps = codec.step_rows(committed)
        events = self._events[state.id]
        new_events = codec.event_rows(state.id, len(events) + 1, history)
        pending = codec.pending_rows(committed)
        row.update(changes)
        self._steps[state.id] = steps
        events.extend(new_events)
        if pending:
            self._pending[state.id] = pending
        else:
            self._pending.pop(state.id, None)
        return committed

    async def list_executions(
        self,
        query: ExecutionQuery = EVERY_EXECUTION,
        *,
        limit: int,
        cursor: str | None = None,
        brief: bool = False,
    ) -> Page[ExecutionRecord]:
        """See `SagaStore.list_executions`."""
        await self._enter()
        paging.check_limit(limit)
        after = paging.decode_execution_cursor(cursor) if cursor is not None else None
        rows = sorted(self._executions.values(), key=lambda r: (r["created_at_ms"], r["id"]), reverse=True)
        chosen: list[ExecutionRecord] = []
        for row in rows:
            if len(chosen) > limit:
                break
            if _matches(row, query) and (after is None or (row["created_at_ms"], row["id"]) < after):
                chosen.append(self._record(row["id"], brief=brief))
        return paging.page_of(chosen, limit, lambda r: paging.execution_cursor(r.state.created_at_ms, r.state.id))

    async def attention_counts(self, now_ms: int) -> list[AttentionCount]:
        """See `SagaStore.attention_counts`."""
        await self._enter()
        counts: Counter[tuple[str, AttentionReason]] = Counter()
        for row in self._executions.values():
            if _needs_attention(row, now_ms):
                counts[(row["saga_name"], _reason(row, self._pending.get(row["id"], [])))] += 1
        return [AttentionCount(saga=saga, reason=reason, count=n) for (saga, reason), n in sorted(counts.items())]

    async def count_waiting(self) -> dict[str, int]:
        """See `SagaStore.count_waiting`."""
        await self._enter()
        counts: Counter[str] = Counter()
        for execution_id, pending in self._pending.items():
            waits = sum(1 for p in pending if p["kind"] == codec.WAIT)
            if waits:
                counts[self._executions[execution_id]["saga_name"]] += waits
        return dict(counts)

    async def note_attention(self, now_ms: int, *, limit: int) -> list[ExecutionRecord]:
        """See `SagaStore.note_attention`."""
        await self._enter()
        due = [r for r in self._executions.values() if _needs_attention(r, now_ms) and not r["attention_noted"]]
        due.sort(key=lambda r: r["attention_at_ms"])
        for row in due[:limit]:
            row["attention_noted"] = True
        return [self._record(row["id"]) for row in due[:limit]]

    async def purge_finished(
        self, finished_before_ms: int, *, limit: int, archive: ArchiveWriter | None = None
    ) -> Purged:
        """See `SagaStore.purge_finished`."""
        await self._enter()
        chosen = sorted(
            (r for r in self._executions.values() if _deletable(r, finished_before_ms)),
            key=lambda r: r["finished_at_ms"],
        )[:limit]
        ids = [row["id"] for row in chosen]
        if archive is not None and ids:
            archive([archive_line(row, self._steps[row["id"]], self._events[row["id"]]) for row in chosen])
        for execution_id in ids:
            for table in (self._executions, self._steps, self._events, self._pending):
                table.pop(execution_id, None)
        return Purged(len(ids), 0.0)

    async def count_finished(self, finished_before_ms: int) -> int:
        """See `SagaStore.count_finished`."""
        await self._enter()
        return sum(1 for r in self._executions.values() if _deletable(r, finished_before_ms))

    async def count_by_status(self, *, saga: str | None = None) -> dict[ExecutionStatus, int]:
        """See `SagaStore.count_by_status`."""
        await self._enter()
        counts: dict[ExecutionStatus, int] = {}
        for row in self._executions.values():
            if saga is None or row["saga_name"] == saga:
                status = ExecutionStatus(row["status"])
                counts[status] = counts.get(status, 0) + 1
        return counts

    async def list_events(
        self, execution_id: str, *, after_seq: int = 0, limit: int, exchanges: bool = True
    ) -> Page[StoredEvent]:
        """See `SagaStore.list_events`; `next_cursor` is the `after_seq` of the next page, as text."""
        await self._enter()
        paging.check_limit(limit)
        if execution_id not in self._executions:
            raise ExecutionNotFound(execution_id)
        rows = [r for r in self._events[execution_id] if r["seq"] > after_seq][: limit + 1]
        if not exchanges:
            rows = [{**r, "request": None, "response": None} for r in rows]
        found = [codec.event_from_row(r) for r in rows]
        return paging.page_of(found, limit, lambda e: paging.event_cursor(e.seq))

    async def events_at(self, execution_id: str, seqs: Collection[int]) -> list[StoredEvent]:
        """See `SagaStore.events_at`."""
        await self._enter()
        if execution_id not in self._executions:
            raise ExecutionNotFound(execution_id)
        wanted = set(seqs)
        return [codec.event_from_row(r) for r in self._events[execution_id] if r["seq"] in wanted]

    async def claim(
        self, owner: str, *, lease_ms: int, limit: int, ids: list[str] | None = None, force: bool = False
    ) -> list[Claim]:
        """See `SagaStore.claim`."""
        await self._enter()
        now = _now_ms()
        rows = sorted(self._executions.values(), key=lambda r: (r["created_at_ms"], r["id"]))
        claimed: list[Claim] = []
        for row in rows:
            if len(claimed) >= limit:
                break
            if row["quarantined"] is not None:
                continue
            if row["status"] not in UNFINISHED_STATUSES and not (force and ids is not None):
                continue
            if ids is not None and row["id"] not in ids:
                continue
            if row["owner"] == owner or (not force and row["owner"] is not None and row["lease_until_ms"] >= now):
                continue
            row.update(
                owner=owner,
                lease_until_ms=now + lease_ms,
                epoch=row["epoch"] + 1,
            )
            claimed.append(
                Claim(execution_id=row["id"], epoch=row["epoch"], recovery_attempts=row["recovery_attempts"])
            )
        return claimed

    async def renew(self, owner: str, *, lease_ms: int) -> int:
        """See `SagaStore.renew`."""
        await self._enter()
        mine = [r for r in self._executions.values() if r["owner"] == owner and r["status"] in UNFINISHED_STATUSES]
        for row in mine:
            row.update(lease_until_ms=_now_ms() + lease_ms, recovery_attempts=0)
        return len(mine)

    async def release(self, owner: str) -> int:
        """See `SagaStore.release`."""
        await self._enter()
        mine = [r for r in self._executions.values() if r["owner"] == owner and r["status"] in UNFINISHED_STATUSES]
        for row in mine:
            row["lease_until_ms"] = 0
        return len(mine)

    async def note_recovery(self, execution_id: str) -> int:
        """See `SagaStore.note_recovery`."""
        await self._enter()
        row = self._row(execution_id)
        row["recovery_attempts"] += 1
        return int(row["recovery_attempts"])

    async def begin_resumption(self, execution_ids: Sequence[str]) -> list[Resumption]:
        """See `SagaStore.begin_resumption`."""
        await self._enter()
        found: list[Resumption] = []
        for execution_id in execution_ids:
            row = self._executions.get(execution_id)
            if row is None:
                continue
            row["recovery_attempts"] += 1
            found.append(Resumption(record=self._record(execution_id), attempts=int(row["recovery_attempts"])))
        return found

    async def quarantine(self, execution_id: str, reason: str, *, now_ms: int) -> None:
        """See `SagaStore.quarantine`."""
        await self._enter()
        self._row(execution_id).update(quarantined=reason, attention_at_ms=now_ms, attention_noted=False)

    async def unquarantine(self, execution_id: str) -> None:
        """See `SagaStore.unquarantine`."""
        await self._enter()
        self._row(execution_id).update(quarantined=None, recovery_attempts=0, lease_until_ms=0)

    def _row(self, execution_id: str) -> Row:
        row = self._executions.get(execution_id)
        if row is None:
            raise ExecutionNotFound(execution_id)
        return row

    async def server_key(self, name: str, candidate: str, *, now_ms: int) -> str:
        """See `SagaStore.server_key`."""
        await self._enter()
        return self._server_keys.setdefault(name, candidate)

    async def ping(self) -> None:
        """See `SagaStore.ping`: raises StoreUnavailable once closed."""
        await self._enter()

    async def close(self) -> None:
        """Refuse further calls; the data is kept for inspection."""
        self._closed = True


def _matches(row: Row, query: ExecutionQuery) -> bool:
    """Whether an execution row passes every filter of `query` (as the SQL store's WHERE does)."""
    checks = (
        query.saga is None or row["saga_name"] == query.saga,
        query.status is None or row["status"] == ExecutionStatus(query.status).value,
        query.key is None or row["business_key"] == query.key,
        not query.id_prefix or str(row["id"]).startswith(query.id_prefix),
        query.created_after_ms is None or row["created_at_ms"] >= query.created_after_ms,
        query.created_before_ms is None or row["created_at_ms"] < query.created_before_ms,
        query.attention_at_ms is None or _needs_attention(row, query.attention_at_ms),
    )
    return all(checks)


def _needs_attention(row: Row, now_ms: int) -> bool:
    return row["attention_at_ms"] is not None and row["attention_at_ms"] <= now_ms


def _reason(row: Row, pending: list[Row]) -> AttentionReason:
    if row["status"] == ExecutionStatus.FAILED.value:
        return AttentionReason.FAILED
    if row["quarantined"] is not None:
        return AttentionReason.QUARANTINED
    return AttentionReason.WAITING if any(p["kind"] == codec.WAIT for p in pending) else AttentionReason.STALLED


def _deletable(row: Row, finished_before_ms: int) -> bool:
    finished = row["finished_at_ms"]
    return row["status"] in DELETABLE and finished is not None and finished < finished_before_ms
