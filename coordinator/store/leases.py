"""Lease statements: claim, renew, release and quarantine executions, judged by the database's clock.

On PostgreSQL the clock is the server's (`clock_timestamp()`), so replicas with skewed clocks
still agree on whether a lease expired. SQLite serves one process on one machine: its clock is
the process's.
"""

from __future__ import annotations

import time

from sqlalchemy import ColumnElement, Connection, or_, select, text, update

from coordinator.ports import Claim
from coordinator.store import tables

X = tables.executions_table
_CLAIMABLE = text(tables.UNFINISHED_PREDICATE)


def db_now_ms(conn: Connection) -> int:
    """Milliseconds since the epoch by the database's clock."""
    if conn.dialect.name == "postgresql":
        now = conn.execute(text("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")).scalar_one()
        return int(now)
    return time.time_ns() // 1_000_000


def claim(conn: Connection, owner: str, lease_ms: int, limit: int, ids: list[str] | None, force: bool) -> list[Claim]:
    """Take over up to `limit` eligible executions; see `SagaStore.claim`."""
    now = db_now_ms(conn)
    eligible = select(X.c.id).where(X.c.quarantined.is_(None))
    if not (force and ids is not None):
        # An operator action may take a terminal (`failed`) execution by id; sweeps never do.
        eligible = eligible.where(_CLAIMABLE)
    # Never our own: a lease of ours (even one that lapsed in a slow renewal) may have a call in
    # flight here; taking it "over" would send a second attempt beside it. We renew instead.
    not_ours = or_(X.c.owner.is_(None), X.c.owner != owner)
    if force:
        eligible = eligible.where(not_ours)
    else:
        eligible = eligible.where(not_ours, or_(X.c.owner.is_(None), X.c.lease_until_ms < now))
    if ids is not None:
        eligible = eligible.where(X.c.id.in_(ids))
    # SKIP LOCKED: two replicas sweeping at once split the work instead of queueing on row locks.
    eligible = eligible.order_by(X.c.created_at_ms, X.c.id).limit(limit).with_for_update(skip_locked=True)
    chosen = list(conn.execute(eligible).scalars())
    if not chosen:
        return []
    stmt = (
        update(X)
        .where(X.c.id.in_(chosen))
        .values(
            owner=owner,
            lease_until_ms=now + lease_ms,
            epoch=X.c.epoch + 1,
        )
        .returning(X.c.id, X.c.epoch, X.c.recovery_attempts)
    )
    return [Claim(execution_id=r[0], epoch=r[1], recovery_attempts=r[2]) for r in conn.execute(stmt)]


def renew(conn: Connection, owner: str, lease_ms: int) -> int:
    """Extend `owner`'s leases on unfinished executions.

    An execution that survived a renewal period with its owner alive is not a poison execution:
    its recovery count starts again.
    """
    now = db_now_ms(conn)
    stmt = update(X).where(_ours_in_id_order(owner)).values(lease_until_ms=now + lease_ms, recovery_attempts=0)
    return int(conn.execute(stmt).rowcount)


def _ours_in_id_order(owner: str) -> ColumnElement[bool]:
    """`owner`'s unfinished executions, their rows locked in id order (PostgreSQL).

    Group-committed transitions lock their executions in id order too (`ServerGroupCommit`): a
    renewal and a batch then never wait for each other in a cycle, which the server would break
    after a second by failing one of them.
    """
    mine = select(X.c.id).where(X.c.owner == owner, _CLAIMABLE).order_by(X.c.id).with_for_update()
    return X.c.id.in_(mine.scalar_subquery())


def release(conn: Connection, owner: str) -> int:
    """Expire `owner`'s leases now."""
    stmt = update(X).where(_ours_in_id_order(owner)).values(lease_until_ms=0)
    return int(conn.execute(stmt).rowcount)


def note_recovery(conn: Connection, execution_id: str) -> int:
    """Count one more attempt to resume the execution; return the count."""
    stmt = (
        update(X)
        .where(X.c.id == execution_id)
        .values(recovery_attempts=X.c.recovery_attempts + 1)
        .returning(X.c.recovery_attempts)
    )
    found = conn.execute(stmt).scalar()
    return int(found or 0)


def set_quarantine(conn: Connection, execution_id: str, reason: str | None, *, now_ms: int | None = None) -> None:
    """Park (`reason`, needing attention from `now_ms`) or release (None) an execution; releasing
    resets its recovery count (its next commit sets when it needs attention again)."""
    values: dict[str, object] = {"quarantined": reason}
    if reason is None:
        values.update(recovery_attempts=0, lease_until_ms=0)
    else:
        values.update(attention_at_ms=now_ms, attention_noted=False)
    conn.execute(update(X).where(X.c.id == execution_id).values(values))
