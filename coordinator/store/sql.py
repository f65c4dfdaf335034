"""`SqlStore`: the durable `SagaStore` on SQLite or PostgreSQL.

SQLAlchemy's engine is synchronous; every database call runs on a dedicated thread pool through
`loop.run_in_executor`, so the event loop never blocks on I/O. SQLite gets one worker (it has a
single writer anyway, and one thread keeps its locking trivial), and its writes are group-committed
(see `group_commit`); PostgreSQL gets a small pool, its transitions queued together share a
transaction (`ServerGroupCommit`), and a write that is one statement taken alone is its own
transaction: one round trip (see `_transaction`).
On PostgreSQL each call has a deadline that also frees its thread (see `deadlines`): a partition
never hangs a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from coordinator.core.history import HistoryEvent
from coordinator.core.state import ExecutionState, ExecutionStatus
from coordinator.errors import (
    DefinitionConflict,
    IdempotencyConflict,
    SagaNotFound,
    SagaVersionNotFound,
    StorageFull,
    StoreUnavailable,
)
from coordinator.ports import (
    EVERY_EXECUTION,
    ArchiveWriter,
    AttentionCount,
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
from coordinator.store import codec, leases, paging, queries, resumption, retention
from coordinator.store.connect import (
    STATEMENT_TIMEOUT_MS,
    WRITE,
    describe,
    has_died,
    is_disk_full,
    is_sqlite,
    is_unavailable,
    make_engine,
    normalise_url,
)
from coordinator.store.deadlines import CallGuard
from coordinator.store.group_commit import GroupCommit, ServerGroupCommit
from coordinator.store.single_writer import SingleWriterLock

T = TypeVar("T")

POSTGRES_WORKERS = 8
"""Default size of the PostgreSQL thread pool (and of its connection pool)."""
DEFAULT_CALL_TIMEOUT_S = 10.0
"""Default deadline of one PostgreSQL call (`SAGA_DB_TIMEOUT_SECONDS`)."""
_FREE_TO_RESUME = 1024 * 1024
"""Bytes free on a SQLite database's filesystem for readiness to report writes possible again."""
_LONG_CALL_S = STATEMENT_TIMEOUT_MS / 1000
"""Deadline of the calls that may legitimately take long (retention's batches and counts)."""
_DEFINITIONS_KEPT = 1024
"""Parsed definition versions kept in memory (they are immutable, so never stale)."""
_LAST_SEQS_KEPT = 10_000
"""Executions whose history length is remembered (`_note_last_seq`)."""


class SqlStore(SagaStore):
    """Definitions, executions, history and pending actions in SQL tables (see `tables`).

    The schema must exist: `open_store` migrates before constructing one.
    """

    def __init__(
        self,
        url: str,
        *,
        workers: int = POSTGRES_WORKERS,
        lock: SingleWriterLock | None = None,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
    ) -> None:
        self._lock = lock
        self._call_timeout_s = call_timeout_s
        parsed = normalise_url(url)
        self._sqlite = is_sqlite(parsed)
        self._directory = Path(parsed.database or ".").resolve().parent if self._sqlite else None
        self._storage_full: str | None = None
        """Why writes fail for want of space (SQLite), until a write succeeds or space is back."""
        size = 1 if self._sqlite else workers
        self._engine = make_engine(parsed, pool_size=size)
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="saga-store")
        # SQLite: retention reads and archives a batch on a thread of its own, beside the one
        # that serves every saga (see `retention`); only its deletes go through the writer.
        self._retention_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="saga-retention") if self._sqlite else None
        )
        self._definitions: dict[tuple[str, int], StoredDefinition] = {}
        # Only with the single-writer lock held is every registration on the file one of ours.
        self._latest_versions: dict[str, int] | None = {} if self._sqlite and lock is not None else None
        self._last_seqs: dict[str, tuple[int, int]] = {}
        self._group: GroupCommit | None = None
        self._batches: ServerGroupCommit | None = None
        if not self._sqlite:
            self._batches = ServerGroupCommit(
                lambda work, guard, alone: self._transaction(work, guard, write=True, alone=alone),
                is_fatal=lambda error: isinstance(error, StoreUnavailable),
            )
        if self._sqlite:
            self._group = GroupCommit(
                functools.partial(self._transaction, write=True),
                is_fatal=lambda error: isinstance(error, SQLAlchemyError) and is_unavailable(error),
            )
        self._closed = False

    # -- plumbing --------------------------------------------------------------------------------

    async def _run(self, work: Callable[[CallGuard | None], T], *, deadline_s: float | None = None) -> T:
        """Run `work` on a store thread. On PostgreSQL, past the deadline: StoreUnavailable, and the
        connection the call is blocked on is cut so that its thread is freed (see `deadlines`).

        The cut is armed on the loop, not in this coroutine: a caller that is cancelled (a client
        that hung up, a readiness probe's own shorter deadline) must not leave a thread hanging.
        SQLite calls have no deadline: a local file answers or fails, and `busy_timeout` bounds
        waiting for the writer's lock.
        """
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        if self._sqlite:
            return await loop.run_in_executor(self._executor, work, None)
        limit = deadline_s if deadline_s is not None else self._call_timeout_s
        guard = CallGuard()
        cutter = loop.call_later(limit, guard.expire)
        future = loop.run_in_executor(self._executor, work, guard)
        future.add_done_callback(lambda _: cutter.cancel())
        done, _ = await asyncio.wait({future}, timeout=limit)
        if not done:
            future.cancel()  # still queued: it never starts; running: the cut below ends it
            guard.expire()
            raise StoreUnavailable(f"database unavailable: no answer within the {limit:g} s deadline")
        return future.result()

    def _transaction(
        self, work: Callable[[Connection], T], guard: CallGuard | None = None, *, write: bool, alone: bool = False
    ) -> T:
        """Run `work` in one transaction, mapping an unreachable database to StoreUnavailable.

        With `alone` (PostgreSQL; a write that is one statement, atomic by itself, or a read whose
        statements need no snapshot in common) each statement is its own transaction: no BEGIN
        and no COMMIT, two round trips fewer. The server has committed a write (flushed, with
        `synchronous_commit` on) before it answers, exactly as a COMMIT would.

        On PostgreSQL a pooled connection is first looked at (`has_died`, no round trip); one
        found dead there (a server restart, a failover) is replaced and the call goes on, as
        nothing was sent on it yet. A read whose connection broke later is retried once on a
        fresh connection. A write is not: it may have committed before the connection broke, and
        the caller must reload to find out.
        """
        if guard is not None and guard.expired:
            # Picked up by a thread after its caller gave up: a connection attempt (which no
            # deadline can cut) would only hold this thread.
            raise StoreUnavailable("database unavailable: the call's deadline passed before it began")
        for attempt in (1, 2):
            try:
                with self._engine.connect() as conn:
                    dbapi_connection = conn.connection.dbapi_connection
                    if not self._sqlite and has_died(dbapi_connection):
                        conn.invalidate()  # closed and dropped from the pool; nothing was sent on it
                        if attempt == 1:
                            continue
                        raise StoreUnavailable("database unavailable: a new connection died at once")
                    if guard is not None and not guard.attach(dbapi_connection):
                        raise StoreUnavailable("database unavailable: the call's deadline passed before it began")
                    try:
                        if alone and not self._sqlite:
                            conn.execution_options(isolation_level="AUTOCOMMIT")
                        elif write:
                            conn.execution_options(**{WRITE: True})
                        elif not self._sqlite:
                            # One snapshot for the several SELECTs of a load or a list.
                            conn.execution_options(isolation_level="REPEATABLE READ")
                        with conn.begin():
                            result = work(conn)
                    finally:
                        if guard is not None:
                            guard.detach()
                if write:
                    self._storage_full = None
                return result
            except SQLAlchemyError as exc:
                if is_disk_full(exc):
                    self._storage_full = f"the disk holding the database is full: {describe(exc)}"
                    raise StorageFull(f"database unavailable: {self._storage_full}") from exc
                invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
                cut = guard is not None and guard.expired
                if invalidated and attempt == 1 and not cut and not write:
                    continue
                if is_unavailable(exc):
                    raise StoreUnavailable(f"database unavailable: {describe(exc)}") from exc
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _read(
        self, work: Callable[[Connection], T], *, deadline_s: float | None = None, alone: bool = False
    ) -> T:
        """Run a read transaction; `alone`: `work` needs no snapshot shared by its statements (on
        PostgreSQL each runs by itself, without BEGIN and COMMIT: see `_transaction`)."""
        run = functools.partial(self._transaction, work, write=False, alone=alone)
        return await self._run(run, deadline_s=deadline_s)

    async def _write(
        self,
        work: Callable[[Connection], T],
        *,
        deadline_s: float | None = None,
        key: str | None = None,
        alone: bool = False,
    ) -> T:
        """Run a write transaction. `key` (an execution id) marks a write of one execution's rows,
        which on PostgreSQL may share a transaction with others queued meanwhile (`ServerGroupCommit`).
        `alone`: `work` is one statement, which on PostgreSQL needs no transaction around it when
        it runs by itself (see `_transaction`)."""
        if self._group is None:
            if key is not None and self._batches is not None:
                return await self._batched(work, key, alone=alone)
            run = functools.partial(self._transaction, work, write=True, alone=alone)
            return await self._run(run, deadline_s=deadline_s)
        if self._closed:
            raise StoreUnavailable("the store is closed")
        done = self._group.enqueue(work)
        self._executor.submit(self._group.flush)
        result: T = await done
        return result

    async def _batched(self, work: Callable[[Connection], T], key: str, *, alone: bool = False) -> T:
        """A write of one execution on PostgreSQL, group-committed, under the call deadline like any other.

        Each write submits one flush, with the deadline mechanics of `_run`: past the deadline the
        caller hears StoreUnavailable, a flush still queued never starts, a running one is cut.
        The flush may take other writes, and this one may be taken by another flush.
        """
        assert self._batches is not None
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        limit = self._call_timeout_s
        done = self._batches.enqueue(work, key, time.monotonic() + limit, alone=alone)
        guard = CallGuard()
        cutter = loop.call_later(limit, guard.expire)
        flush = loop.run_in_executor(self._executor, self._batches.flush, guard)
        flush.add_done_callback(lambda _: cutter.cancel())
        flush.add_done_callback(_consume)
        timer = loop.call_later(limit, _expire, done, flush, limit)
        try:
            result: T = await done
        finally:
            timer.cancel()
        return result

    # -- definitions -----------------------------------------------------------------------------

    async def add_definition(self, definition: StoredDefinition) -> tuple[StoredDefinition, bool]:
        """See `SagaStore.add_definition`."""
        row = codec.definition_row(definition)
        # Look first: re-registering an unchanged definition is routine (every `saga serve
        # --sagas-dir` start), and a failed INSERT would log an error on the server each time.
        existing = await self._stored_definition(definition)
        if existing is not None:
            return existing, False
        try:
            await self._write(lambda conn: queries.insert_definition(conn, row))
        except IntegrityError:
            existing = await self._stored_definition(definition)
            if existing is None:
                raise  # not a duplicate version: a genuine schema problem
            return existing, False
        added = codec.definition_from_row(row)
        self._remember_definition(added, latest=False)
        return added, True

    async def _stored_definition(self, definition: StoredDefinition) -> StoredDefinition | None:
        """The stored (name, version), if any; DefinitionConflict if its digest differs."""
        row = await self._read(lambda conn: queries.definition(conn, definition.name, definition.version))
        if row is None:
            return None
        if row["digest"] != definition.digest:
            raise DefinitionConflict(
                f"saga {definition.name!r} version {definition.version} is already registered with a different body"
            )
        return codec.definition_from_row(row)

    async def get_definition(self, name: str, version: int | None = None) -> StoredDefinition:
        """See `SagaStore.get_definition`.

        Versions are immutable, so each is read (and its document parsed) once per process. The
        latest version number is asked of the database every time, since another replica may
        have registered a newer one a moment ago; except on a SQLite file this process holds the
        writer's lock of, where every registration is this store's own.
        """
        known = version
        if known is None and self._latest_versions is not None:
            known = self._latest_versions.get(name)
        if known is not None and (name, known) in self._definitions:
            return self._definitions[(name, known)]

        def work(conn: Connection) -> StoredDefinition:
            wanted = version if version is not None else queries.latest_version(conn, name)
            if wanted is not None:
                if (name, wanted) in self._definitions:
                    return self._definitions[(name, wanted)]
                row = queries.definition(conn, name, wanted)
                if row is not None:
                    return codec.definition_from_row(row)
            if version is None or not queries.saga_exists(conn, name):
                raise SagaNotFound(name)
            raise SagaVersionNotFound(name, version)

        # Versions never change once stored: the statements need no snapshot in common.
        found = await self._read(work, alone=True)
        self._remember_definition(found, latest=version is None)
        return found

    def _remember_definition(self, found: StoredDefinition, *, latest: bool) -> None:
        """Keep a version; with `latest`, it is known to be the newest (else it may be an old one)."""
        if len(self._definitions) >= _DEFINITIONS_KEPT:
            del self._definitions[next(iter(self._definitions))]
        self._definitions[(found.name, found.version)] = found
        if self._latest_versions is None:
            return
        known = self._latest_versions.get(found.name)
        if latest or known is not None:
            self._latest_versions[found.name] = max(known or 0, found.version)

    async def list_definitions(self, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """See `SagaStore.list_definitions`."""
        paging.check_limit(limit)
        after = paging.decode_definition_cursor(cursor) if cursor is not None else None
        rows = await self._read(lambda conn: queries.latest_definitions(conn, after, limit + 1))
        found = [codec.definition_from_row(r) for r in rows]
        return paging.page_of(found, limit, lambda d: paging.definition_cursor(d.name))

    async def list_versions(self, name: str, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """See `SagaStore.list_versions`."""
        paging.check_limit(limit)
        before = paging.decode_version_cursor(cursor, name) if cursor is not None else None

        def work(conn: Connection) -> list[StoredDefinition]:
            rows = queries.versions(conn, name, before, limit + 1)
            if not rows and not queries.saga_exists(conn, name):
                raise SagaNotFound(name)
            return [codec.definition_from_row(r) for r in rows]

        found = await self._read(work)
        return paging.page_of(found, limit, lambda d: paging.version_cursor(d.name, d.version))

    # -- executions ------------------------------------------------------------------------------

    async def create_execution(
        self,
        record: ExecutionRecord,
        history: tuple[HistoryEvent, ...],
        *,
        owner: str | None = None,
        lease_ms: int = 0,
    ) -> tuple[ExecutionRecord, bool]:
        """See `SagaStore.create_execution`.

        The UNIQUE (saga_name, idempotency_key) constraint settles races: of concurrent inserts
        with one key exactly one commits, the others fail and return (or refuse) the winner's row.
        """
        key = record.idempotency_key
        if key is not None:
            existing = await self._existing(record, key)
            if existing is not None:
                return existing, False
        if owner is not None:
            record = replace(record, owner=owner, epoch=1)
        try:
            await self._write(lambda conn: queries.insert_execution(conn, record, history, lease_ms), alone=True)
            self._note_last_seq(record.state, len(history))
        except IntegrityError:
            existing = None if key is None else await self._existing(record, key)
            if existing is None:
                raise ValueError(f"execution {record.state.id!r} already exists") from None
            return existing, False
        return codec.as_stored(record), True

    async def _existing(self, record: ExecutionRecord, key: str) -> ExecutionRecord | None:
        """The execution started earlier with `key`, if its request matches; else IdempotencyConflict."""

        def work(conn: Connection) -> ExecutionRecord | None:
            found = queries.execution_id_for_key(conn, record.state.saga, key)
            return None if found is None else queries.load_record(conn, found)

        existing = await self._read(work)
        if existing is not None and existing.request_digest != record.request_digest:
            raise IdempotencyConflict(f"idempotency key {key!r} was used with a different request")
        return existing

    async def load_execution(self, execution_id: str) -> ExecutionRecord:
        """See `SagaStore.load_execution`."""
        return await self._read(lambda conn: queries.load_record(conn, execution_id))

    async def commit(
        self,
        state: ExecutionState,
        history: tuple[HistoryEvent, ...],
        *,
        expected_revision: int,
        lease: Lease | None = None,
        previous: ExecutionState | None = None,
    ) -> ExecutionState:
        """See `SagaStore.commit`; a missing execution raises ExecutionNotFound."""
        known = self._last_seqs.get(state.id)
        known_seq = known[1] if known is not None and known[0] == expected_revision else None
        # Grouped only when the status stays: a status change (like a new execution) also updates
        # the shared per-status counts, whose rows a batch would hold locked for all its writes,
        # making concurrent batches queue on them and deadlock in the order of their shards.
        grouped = previous is not None and previous.status is state.status
        committed, last_seq = await self._write(
            lambda conn: queries.commit(conn, state, history, expected_revision, lease, previous, known_seq),
            key=state.id if grouped else None,
            alone=queries.fits_one_statement(state, previous, known_seq),
        )
        self._note_last_seq(committed, last_seq)
        return committed

    def _note_last_seq(self, state: ExecutionState, last_seq: int) -> None:
        """Remember the history length at a revision we committed, to number the next entries without a query.

        Keyed by revision, it cannot go stale: a revision is committed once, by one writer, and
        only after that commit is it noted here.
        """
        self._last_seqs.pop(state.id, None)
        if state.status.is_terminal:
            return
        self._last_seqs[state.id] = (state.revision, last_seq)
        if len(self._last_seqs) > _LAST_SEQS_KEPT:
            del self._last_seqs[next(iter(self._last_seqs))]

    async def list_executions(
        self,
        query: ExecutionQuery = EVERY_EXECUTION,
        *,
        limit: int,
        cursor: str | None = None,
        brief: bool = False,
    ) -> Page[ExecutionRecord]:
        """See `SagaStore.list_executions`."""
        paging.check_limit(limit)
        after = paging.decode_execution_cursor(cursor) if cursor is not None else None
        found = await self._read(lambda conn: queries.list_records(conn, query, after, limit + 1, brief=brief))
        return paging.page_of(found, limit, lambda r: paging.execution_cursor(r.state.created_at_ms, r.state.id))

    async def attention_counts(self, now_ms: int) -> list[AttentionCount]:
        """See `SagaStore.attention_counts`."""
        return await self._read(lambda conn: queries.attention_counts(conn, now_ms))

    async def count_waiting(self) -> dict[str, int]:
        """See `SagaStore.count_waiting`."""
        return await self._read(queries.count_waiting)

    async def note_attention(self, now_ms: int, *, limit: int) -> list[ExecutionRecord]:
        """See `SagaStore.note_attention`."""
        return await self._write(lambda conn: queries.note_attention(conn, now_ms, limit))

    async def purge_finished(
        self, finished_before_ms: int, *, limit: int, archive: ArchiveWriter | None = None
    ) -> Purged:
        """See `SagaStore.purge_finished`.

        SQLite: the batch is read and archived on the retention thread in a read snapshot, then
        deleted in a write of the group commit: the writer is held only for the deletes, and they
        share the commit (and its fsync) of the sagas' writes queued beside them.
        """
        if self._retention_thread is None:
            return await self._write(
                lambda conn: _timed(lambda: retention.purge_finished(conn, finished_before_ms, limit, archive)),
                deadline_s=_LONG_CALL_S,
            )
        if self._closed:
            raise StoreUnavailable("the store is closed")
        read = functools.partial(
            self._transaction,
            lambda conn: retention.choose_and_archive(conn, finished_before_ms, limit, archive),
            write=False,
        )
        began = time.monotonic()
        chosen = await asyncio.get_running_loop().run_in_executor(self._retention_thread, read)
        reading = time.monotonic() - began
        deleted = await self._write(lambda conn: _timed(lambda: retention.delete_chosen(conn, chosen)))
        return Purged(deleted.deleted, reading + deleted.busy_s)

    async def count_finished(self, finished_before_ms: int) -> int:
        """See `SagaStore.count_finished`."""
        return await self._read(
            lambda conn: retention.count_finished(conn, finished_before_ms), deadline_s=_LONG_CALL_S
        )

    async def count_by_status(self, *, saga: str | None = None) -> dict[ExecutionStatus, int]:
        """See `SagaStore.count_by_status`."""
        return await self._read(lambda conn: queries.count_by_status(conn, saga))

    async def list_events(
        self, execution_id: str, *, after_seq: int = 0, limit: int, exchanges: bool = True
    ) -> Page[StoredEvent]:
        """See `SagaStore.list_events`; `next_cursor` is the `after_seq` of the next page, as text."""
        paging.check_limit(limit)
        found = await self._read(
            lambda conn: queries.events(conn, execution_id, after_seq, limit + 1, exchanges=exchanges)
        )
        return paging.page_of(found, limit, lambda e: paging.event_cursor(e.seq))

    async def events_at(self, execution_id: str, seqs: Collection[int]) -> list[StoredEvent]:
        """See `SagaStore.events_at`."""
        wanted = list(seqs)
        return await self._read(lambda conn: queries.events_at(conn, execution_id, wanted))

    async def claim(
        self, owner: str, *, lease_ms: int, limit: int, ids: list[str] | None = None, force: bool = False
    ) -> list[Claim]:
        """See `SagaStore.claim`."""
        return await self._write(lambda conn: leases.claim(conn, owner, lease_ms, limit, ids, force))

    async def renew(self, owner: str, *, lease_ms: int) -> int:
        """See `SagaStore.renew`."""
        return await self._write(lambda conn: leases.renew(conn, owner, lease_ms))

    async def release(self, owner: str) -> int:
        """See `SagaStore.release`."""
        return await self._write(lambda conn: leases.release(conn, owner))

    async def note_recovery(self, execution_id: str) -> int:
        """See `SagaStore.note_recovery`."""
        return await self._write(lambda conn: leases.note_recovery(conn, execution_id))

    async def begin_resumption(self, execution_ids: Sequence[str]) -> list[Resumption]:
        """See `SagaStore.begin_resumption`: one transaction for the batch."""
        wanted = list(execution_ids)
        found = await self._write(lambda conn: resumption.begin_resumption(conn, wanted))
        for resumed, last_seq in found:
            # The resuming commit numbers its history entries without reading the length again.
            self._note_last_seq(resumed.record.state, last_seq)
        return [resumed for resumed, _ in found]

    async def quarantine(self, execution_id: str, reason: str, *, now_ms: int) -> None:
        """See `SagaStore.quarantine`."""
        await self._write(lambda conn: leases.set_quarantine(conn, execution_id, reason, now_ms=now_ms))

    async def unquarantine(self, execution_id: str) -> None:
        """See `SagaStore.unquarantine`."""
        await self._write(lambda conn: leases.set_quarantine(conn, execution_id, None))

    async def server_key(self, name: str, candidate: str, *, now_ms: int) -> str:
        """See `SagaStore.server_key`."""
        stored = await self._read(lambda conn: queries.server_key(conn, name))
        if stored is not None:
            return stored
        row = {"name": name, "value": candidate, "created_at_ms": now_ms}
        with contextlib.suppress(IntegrityError):  # another replica made it first: theirs is the key
            await self._write(lambda conn: queries.insert_server_key(conn, row))
        stored = await self._read(lambda conn: queries.server_key(conn, name))
        assert stored is not None  # inserted by us or by the replica that won
        return stored

    async def ping(self) -> None:
        """Run `SELECT 1` on a pooled connection (the pool the store itself uses).

        After a write failed for want of space, SQLite reads still work: StorageFull is raised
        until a write succeeds or the database's filesystem has room again.
        """
        await self._read(lambda conn: conn.execute(select(literal(1))).scalar_one())
        reason = self._storage_full
        if reason is None or self._directory is None:
            return
        free = shutil.disk_usage(self._directory).free
        if free < _FREE_TO_RESUME:
            raise StorageFull(f"database unavailable: {reason} ({free} bytes free in {self._directory})")
        self._storage_full = None

    async def close(self) -> None:
        """Finish queued work, then stop the threads and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        if self._retention_thread is not None:
            self._retention_thread.shutdown(wait=True)
        self._executor.shutdown(wait=True)
        self._engine.dispose()
        if self._lock is not None:
            self._lock.release()


def _timed(work: Callable[[], int]) -> Purged:
    """Run a purge step on the store's thread, timing it there (not the wait for the thread)."""
    began = time.monotonic()
    deleted = work()
    return Purged(deleted, time.monotonic() - began)


def _consume(runner: asyncio.Future[None]) -> None:
    """A flush's own failure (its deadline) reached its writes through their futures: nothing more to say."""
    if not runner.cancelled():
        runner.exception()


def _expire(done: asyncio.Future[Any], flush: asyncio.Future[None], limit: float) -> None:
    """A group-committed write's deadline passed before its transaction ended: its flush, if still
    queued, never starts (a taken write's outcome is unknown, as for any call cut at its deadline)."""
    flush.cancel()
    if not done.done():
        done.set_exception(StoreUnavailable(f"database unavailable: no answer within the {limit:g} s deadline"))
