"""Group commit: the writes queued while the writer was busy share one transaction, and one fsync.

SQLite has one writer, and with `synchronous=FULL` every COMMIT waits for the disk. Under load the
writes of many executions queue up behind each other; committing them together turns N fsyncs into
one without weakening anything: each write's caller hears back only after the COMMIT that contains
it, exactly as with a transaction of its own.

Each write runs in a SAVEPOINT, so one that fails (a lost compare-and-set, a duplicate key) is undone
alone and its caller gets its own exception, while the others commit. A failure that breaks the
transaction itself (the disk, the database) fails every write of the batch: none of them committed.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from coordinator.errors import StoreUnavailable

MAX_BATCH = 64
"""Writes per transaction at most: bounds how long one COMMIT keeps the others' callers waiting."""

Work = Callable[[Connection], Any]
Transaction = Callable[[Callable[[Connection], Any]], Any]
"""Runs a function in one write transaction (mapping database failures) and returns its result."""


@dataclass(frozen=True)
class _Write:
    work: Work
    done: asyncio.Future[Any]


class GroupCommit:
    """Queues writes from the event loop; `flush` (on the writer thread) commits what is queued."""

    def __init__(self, transaction: Transaction, *, is_fatal: Callable[[BaseException], bool]) -> None:
        self._transaction = transaction
        self._is_fatal = is_fatal
        self._queue: collections.deque[_Write] = collections.deque()

    def enqueue(self, work: Work) -> asyncio.Future[Any]:
        """Queue `work`; the future settles once the transaction holding it committed (or failed).

        Call `flush` on the writer thread once per enqueued write: a flush that finds the queue
        already drained by an earlier one does nothing.
        """
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(work, done))  # deque.append is atomic: safe beside the writer's popleft
        return done

    def flush(self) -> None:
        """Commit up to `MAX_BATCH` queued writes in one transaction, then settle their futures."""
        batch: list[_Write] = []
        while self._queue and len(batch) < MAX_BATCH:
            batch.append(self._queue.popleft())
        if not batch:
            return
        try:
            if len(batch) == 1:
                # Alone, a failing write rolls the whole transaction back: no savepoint needed.
                outcomes: list[tuple[bool, Any]] = [(True, self._transaction(batch[0].work))]
            else:
                outcomes = self._transaction(lambda conn: [self._apply(conn, w.work) for w in batch])
        except BaseException as error:  # every caller must hear of it, whatever it is
            outcomes = [(False, error)] * len(batch)
        _hand_back([(write.done, outcome) for write, outcome in zip(batch, outcomes, strict=True)])

    def _apply(self, conn: Connection, work: Work) -> tuple[bool, Any]:
        # Plain SAVEPOINT statements: SQLAlchemy's nested transactions cost more than the writes.
        conn.exec_driver_sql("SAVEPOINT saga_write")
        try:
            result = work(conn)
        except Exception as error:
            if self._is_fatal(error):
                raise  # the transaction itself is broken: the whole batch fails
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT saga_write")
            conn.exec_driver_sql("RELEASE SAVEPOINT saga_write")
            return False, error
        conn.exec_driver_sql("RELEASE SAVEPOINT saga_write")
        return True, result


Settled = list[tuple[asyncio.Future[Any], tuple[bool, Any]]]
"""Each write's future with its outcome: (True, result) or (False, exception)."""


def _hand_back(settled: Settled) -> None:
    """From the writer's thread: one wake-up per event loop (there is normally one) for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, Settled] = {}
    for done, outcome in settled:
        by_loop.setdefault(done.get_loop(), []).append((done, outcome))
    for loop, theirs in by_loop.items():
        loop.call_soon_threadsafe(_settle, theirs)


def _settle(settled: Settled) -> None:
    """Hand each write its outcome (on the event loop)."""
    for done, (ok, value) in settled:
        if done.done():  # cancelled, or failed at its deadline (`ServerGroupCommit`)
            continue
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)


@dataclass(frozen=True)
class _KeyedWrite:
    work: Work
    key: str
    done: asyncio.Future[Any]
    deadline: float
    """`time.monotonic()` past which the caller has given up: the write is not started."""
    alone: bool
    """The work is one statement: run by itself, it needs no transaction of its own around it."""


GuardedTransaction = Callable[[Work, Any, bool], Any]
"""Runs a function in one write transaction under a call's guard (see `deadlines`) and returns its
result; with True, the function is one statement, run as its own transaction (no BEGIN, no COMMIT)."""


class ServerGroupCommit:
    """Group commit for a database server (PostgreSQL): the writes queued while every connection was
    busy share one transaction, so one WAL flush, one COMMIT and one thread hand-off serve them all.

    Any free connection flushes what is queued, so a write that finds one idle goes alone at once:
    nobody waits for company. Writes are run in the order of their keys (execution ids), so two
    batches, or a batch and a lease renewal (which locks in the same order), never wait for each
    other in a cycle. No savepoints (each would be two more round trips): if a write fails before
    the COMMIT, nothing of the batch was written, and each write is run again alone, so only the
    failing one fails. If the COMMIT itself fails, or the call's deadline cut the connection, the
    batch's outcome is unknown: every caller hears of the failure and must reload, exactly as for a
    write of its own.
    """

    def __init__(self, transaction: GuardedTransaction, *, is_fatal: Callable[[BaseException], bool]) -> None:
        self._transaction = transaction
        self._is_fatal = is_fatal
        self._queue: collections.deque[_KeyedWrite] = collections.deque()

    def enqueue(self, work: Work, key: str, deadline: float, *, alone: bool = False) -> asyncio.Future[Any]:
        """Queue `work`; then run `flush` on a store thread. Settle the future (cancel it, or fail it)
        to withdraw the write: it is skipped if no flush has taken it yet. `alone`: the work is one
        statement (taken by itself, it runs as its own transaction)."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_KeyedWrite(work, key, done, deadline, alone))
        return done

    def flush(self, guard: Any) -> None:
        """Commit up to `MAX_BATCH` queued writes in one transaction, then settle their futures."""
        batch: list[_KeyedWrite] = []
        late: list[_KeyedWrite] = []
        now = time.monotonic()
        while len(batch) < MAX_BATCH:
            try:
                write = self._queue.popleft()  # several threads flush at once: pop, never test-then-pop
            except IndexError:
                break
            if write.done.done():  # withdrawn: its caller gave up
                continue
            # Past its deadline the caller is told it failed: starting it now could only hang this
            # thread on a connection attempt (which no deadline can cut) or commit behind its back.
            (late if now > write.deadline else batch).append(write)
        if late:
            _fail(late, StoreUnavailable("database unavailable: the call's deadline passed before it began"))
        if not batch:
            return
        if getattr(guard, "expired", False):  # queued past this flush's deadline: start nothing
            _fail(batch, StoreUnavailable("database unavailable: the call's deadline passed before it began"))
            return
        batch.sort(key=lambda w: w.key)
        outcomes: list[tuple[bool, Any]]
        if len(batch) == 1:
            outcomes = [self._alone(batch[0], guard)]
        else:
            statements_done = False

            def every_write(conn: Connection) -> list[Any]:
                nonlocal statements_done
                results = [w.work(conn) for w in batch]
                statements_done = True
                return results

            try:
                outcomes = [(True, result) for result in self._transaction(every_write, guard, False)]
            except Exception as error:
                if statements_done or self._is_fatal(error) or getattr(guard, "expired", False):
                    # The COMMIT may have happened, or the database is out of reach (alone, each
                    # would only wait for it again): every caller hears of it and reloads later.
                    outcomes = [(False, error)] * len(batch)
                else:
                    outcomes = [self._alone(w, guard) for w in batch]  # nothing was written: alone, each its own
            except BaseException as error:  # every caller must hear of it, whatever it is
                outcomes = [(False, error)] * len(batch)
        _hand_back([(write.done, outcome) for write, outcome in zip(batch, outcomes, strict=True)])

    def _alone(self, write: _KeyedWrite, guard: Any) -> tuple[bool, Any]:
        try:
            return True, self._transaction(write.work, guard, write.alone)
        except BaseException as error:
            return False, error


def _fail(batch: list[_KeyedWrite], error: BaseException) -> None:
    _hand_back([(write.done, (False, error)) for write in batch])
