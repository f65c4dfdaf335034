"""Finding executions (business key, id prefix, time range, needing attention) and keeping the
database small (retention), on every store: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from coordinator.core.state import ExecutionState, ExecutionStatus, StepStatus
from coordinator.ports import AttentionCount, AttentionReason, ExecutionQuery, SagaStore
from coordinator.store import SqlStore, open_store, retention, tables
from coordinator.store.archive import archive_line
from coordinator.store.connect import WRITE, make_engine, normalise_url
from coordinator.store.retention import RETENTION_LOCK
from tests.postgres import empty_postgres

from .conftest import Backend
from .factories import T0, error_response, full_event, labelled, plain_state, record

MINUTE = 60_000


async def _ids(store: SagaStore, **filters: Any) -> list[str]:
    page = await store.list_executions(ExecutionQuery(**filters), limit=100)
    return [r.state.id for r in page.items]


async def _add(store: SagaStore, state: ExecutionState, **fields: Any) -> None:
    await store.create_execution(record(state, **fields), ())


async def _finish(store: SagaStore, execution_id: str, status: ExecutionStatus, at: int) -> None:
    """Commit `execution_id` into `status` at `at`, as the machine's decision would stamp it."""
    current = (await store.load_execution(execution_id)).state
    terminal = status.is_terminal
    done = replace(
        current,
        status=status,
        updated_at_ms=at,
        finished_at_ms=at if terminal else None,
        attention_at_ms=at if status is ExecutionStatus.FAILED else (None if terminal else at + 15 * MINUTE),
    )
    await store.commit(done, (labelled(f"{status.value}@{at}", at=at),), expected_revision=current.revision)


async def test_the_business_key_finds_its_executions_and_round_trips(store: SagaStore) -> None:
    await _add(store, plain_state("a1", created_at_ms=T0), business_key="ord-42")
    await _add(store, plain_state("a2", created_at_ms=T0 + 1), business_key="ord-42")
    await _add(store, plain_state("b1", created_at_ms=T0 + 2), business_key="ord-7")
    await _add(store, plain_state("c1", created_at_ms=T0 + 3))
    assert await _ids(store, key="ord-42") == ["a2", "a1"]
    assert await _ids(store, key="ord-42", saga="refund") == []
    assert await _ids(store, key="nope") == []
    assert (await store.load_execution("b1")).business_key == "ord-7"
    assert (await store.load_execution("c1")).business_key is None


async def test_an_id_prefix_is_a_range_on_the_id(store: SagaStore) -> None:
    for execution_id in ("3e556cef-1", "3e556cef-2", "3e557000", "3e55", "4e556cef"):
        await _add(store, plain_state(execution_id))
    assert sorted(await _ids(store, id_prefix="3e556cef")) == ["3e556cef-1", "3e556cef-2"]
    assert sorted(await _ids(store, id_prefix="3e55")) == ["3e55", "3e556cef-1", "3e556cef-2", "3e557000"]
    assert await _ids(store, id_prefix="3e556cef-2") == ["3e556cef-2"]
    assert await _ids(store, id_prefix="zz") == []


async def test_a_time_range_is_inclusive_then_exclusive(store: SagaStore) -> None:
    for i in range(5):
        await _add(store, plain_state(f"t{i}", created_at_ms=T0 + i * MINUTE))
    assert await _ids(store, created_after_ms=T0 + MINUTE, created_before_ms=T0 + 3 * MINUTE) == ["t2", "t1"]
    assert await _ids(store, created_after_ms=T0 + 4 * MINUTE) == ["t4"]


async def test_needing_attention_is_failed_quarantined_or_silent_for_too_long(store: SagaStore) -> None:
    now = T0 + 60 * MINUTE
    await _add(store, replace(plain_state("quiet", created_at_ms=T0), attention_at_ms=T0 + 15 * MINUTE))
    await _add(store, replace(plain_state("busy", created_at_ms=T0 + 1), attention_at_ms=now + MINUTE))
    await _add(store, replace(plain_state("broken", created_at_ms=T0 + 2), attention_at_ms=now + MINUTE))
    await _finish(store, "broken", ExecutionStatus.FAILED, at=T0 + 30 * MINUTE)
    await _add(store, replace(plain_state("fine", created_at_ms=T0 + 3), attention_at_ms=now + MINUTE))
    await _finish(store, "fine", ExecutionStatus.COMPLETED, at=T0 + 31 * MINUTE)
    await _add(store, replace(plain_state("poison", created_at_ms=T0 + 4), attention_at_ms=now + MINUTE))
    await store.quarantine("poison", "crashed the coordinator 5 times", now_ms=T0 + 40 * MINUTE)

    assert await _ids(store, attention_at_ms=now) == ["poison", "broken", "quiet"]
    assert await _ids(store, attention_at_ms=T0 + 20 * MINUTE) == ["quiet"]  # the others had not happened
    assert await _ids(store, attention_at_ms=now, saga="refund") == []
    reasons = {r.state.id: r.attention_reason(now) for r in (await store.list_executions(limit=10)).items}
    assert reasons == {
        "quiet": AttentionReason.STALLED,
        "busy": None,
        "broken": AttentionReason.FAILED,
        "fine": None,
        "poison": AttentionReason.QUARANTINED,
    }
    assert await store.attention_counts(now) == [
        AttentionCount(saga="checkout", reason=AttentionReason.FAILED, count=1),
        AttentionCount(saga="checkout", reason=AttentionReason.QUARANTINED, count=1),
        AttentionCount(saga="checkout", reason=AttentionReason.STALLED, count=1),
    ]


async def test_each_execution_is_noted_once_per_episode_of_needing_attention(store: SagaStore) -> None:
    now = T0 + 60 * MINUTE
    await _add(store, replace(plain_state("quiet"), attention_at_ms=T0 + 15 * MINUTE))
    await _add(store, replace(plain_state("busy"), attention_at_ms=now + MINUTE))
    noted = await store.note_attention(now, limit=10)
    assert [r.state.id for r in noted] == ["quiet"]
    assert await store.note_attention(now, limit=10) == []  # noted already: no second warning
    # It moves again (a commit), then falls silent again: a new episode, noted again.
    await _finish(store, "quiet", ExecutionStatus.RUNNING, at=now)
    assert await store.note_attention(now + 16 * MINUTE, limit=10) != []


async def test_retention_deletes_only_what_finished_well_long_enough_ago(store: SagaStore) -> None:
    for name, status, at in [
        ("old-done", ExecutionStatus.COMPLETED, T0),
        ("old-undone", ExecutionStatus.COMPENSATED, T0 + 1),
        ("old-failed", ExecutionStatus.FAILED, T0 + 2),
        ("new-done", ExecutionStatus.COMPLETED, T0 + 100 * MINUTE),
    ]:
        await _add(store, plain_state(name, created_at_ms=T0 - MINUTE))
        await _finish(store, name, status, at=at)
    await _add(store, plain_state("running", created_at_ms=T0 - MINUTE))
    cutoff = T0 + 50 * MINUTE
    assert await store.count_finished(cutoff) == 2

    archived: list[dict[str, Any]] = []

    def archive(lines: list[str]) -> None:
        assert all("\n" not in line for line in lines)  # one line each in a JSON-lines file
        archived.extend(json.loads(line) for line in lines)

    assert (await store.purge_finished(cutoff, limit=1, archive=archive)).deleted == 1
    assert (await store.purge_finished(cutoff, limit=1000, archive=archive)).deleted == 1
    assert (await store.purge_finished(cutoff, limit=1000, archive=archive)).deleted == 0

    assert sorted(r.state.id for r in (await store.list_executions(limit=10)).items) == [
        "new-done",
        "old-failed",
        "running",
    ]
    assert [doc["execution"]["id"] for doc in archived] == ["old-done", "old-undone"]  # oldest first
    first = archived[0]
    assert first["execution"]["status"] == "completed" and first["execution"]["input"]["note"] == "żółw"
    assert [s["name"] for s in first["steps"]] == ["reserve", "charge"]
    assert [e["error"] for e in first["history"]] == [f"completed@{T0}"]
    with pytest.raises(Exception):  # noqa: B017  # whichever NotFound the store raises
        await store.list_events("old-done", limit=10)


def _stored_rows(url: str, execution_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """An execution's rows as SQLAlchemy reads them (typed: booleans as bool on SQLite too)."""
    engine = make_engine(normalise_url(url), pool_size=1)
    try:
        with engine.connect() as conn:

            def rows(table: Any) -> list[dict[str, Any]]:
                return [dict(r._mapping) for r in conn.execute(select(table).where(table.c[key] == execution_id))]

            key = "id"
            (execution,) = rows(tables.executions_table)
            key = "execution_id"
            return execution, rows(tables.steps_table), rows(tables.events_table)
    finally:
        engine.dispose()


async def test_the_database_writes_the_archive_line_python_would(sql_backend: Backend) -> None:
    # What the database writes (`archive_query`) must read as `archive_line` over the same rows,
    # byte for byte: the escapes of odd text, nulls and booleans, JSON columns spliced last.
    store, url = sql_backend.store, sql_backend.url
    assert url is not None
    odd = 'quote " backslash \\ tab \t newline \n bell \x07 del \x7f żółw 🐢 </script>'
    state = plain_state("odd-1", created_at_ms=T0 - MINUTE)
    await store.create_execution(record(state, input={"note": odd, "n": [1, 2.5, None, True]}, business_key=odd), ())
    current = (await store.load_execution("odd-1")).state
    reserve, charge = current.steps
    done = replace(
        current,
        status=ExecutionStatus.COMPLETED,
        updated_at_ms=T0,
        finished_at_ms=T0,
        steps=(
            replace(reserve, status=StepStatus.SUCCEEDED, attempts=1, effect_possible=True, response=error_response()),
            replace(charge, status=StepStatus.SUCCEEDED, attempts=2, last_error=odd, last_status_code=502),
        ),
    )
    await store.commit(done, (full_event(T0 - 1), labelled(odd, at=T0)), expected_revision=current.revision)
    expected = archive_line(*_stored_rows(url, "odd-1"))

    archived: list[str] = []
    assert (await store.purge_finished(T0 + MINUTE, limit=10, archive=archived.extend)).deleted == 1

    assert archived == [expected]
    doc = json.loads(expected)
    assert doc["execution"]["input"]["note"] == odd and doc["execution"]["business_key"] == odd
    assert [s["effect_possible"] for s in doc["steps"]] == [True, False]
    assert doc["steps"][0]["response"]["status"] == error_response().status and doc["steps"][1]["response"] is None
    assert [e["seq"] for e in doc["history"]] == [1, 2] and doc["history"][1]["error"] == odd


async def test_an_archive_that_fails_deletes_nothing(store: SagaStore) -> None:
    await _add(store, plain_state("done", created_at_ms=T0 - MINUTE))
    await _finish(store, "done", ExecutionStatus.COMPLETED, at=T0)

    def full_disk(_: list[str]) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        await store.purge_finished(T0 + MINUTE, limit=10, archive=full_disk)
    assert (await store.load_execution("done")).state.status is ExecutionStatus.COMPLETED


@pytest.mark.postgres
async def test_one_postgresql_replica_purges_at_a_time(postgres_url: str) -> None:
    empty_postgres(postgres_url)
    store = SqlStore(postgres_url)
    try:
        await _add(store, plain_state("done", created_at_ms=T0 - MINUTE))
        await _finish(store, "done", ExecutionStatus.COMPLETED, at=T0)
        with psycopg.connect(postgres_url) as other:
            other.execute("SELECT pg_advisory_xact_lock(%s)", (RETENTION_LOCK,))  # another replica is purging
            assert (await store.purge_finished(T0 + MINUTE, limit=10)).deleted == 0
        assert (await store.purge_finished(T0 + MINUTE, limit=10)).deleted == 1
    finally:
        await store.close()


async def test_sqlite_deletes_only_what_it_archived_at_the_revision_archived(tmp_path: Path) -> None:
    # SQLite reads and archives a batch in a read snapshot, then deletes it in a write: an
    # execution committed again in between (a finished one does not change, but nothing relies
    # on it) is kept, to be archived anew by a later batch; the others go, children and all.
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    store = await open_store(url)
    try:
        for name in ("kept", "gone"):
            await _add(store, plain_state(name, created_at_ms=T0 - MINUTE))
            await _finish(store, name, ExecutionStatus.COMPLETED, at=T0)
        engine = make_engine(normalise_url(url), pool_size=1)
        try:
            with engine.connect() as conn, conn.begin():
                chosen = retention.choose_and_archive(conn, T0 + MINUTE, 10, None)
            assert sorted(chosen.revisions) == ["gone", "kept"]
            await _finish(store, "kept", ExecutionStatus.COMPLETED, at=T0 + 1)  # a new revision
            with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
                assert retention.delete_chosen(conn, chosen) == 1
                left = {
                    table.name: sorted({row[0] for row in conn.execute(select(table.c[key]))})
                    for table, key in ((tables.executions_table, "id"), (tables.events_table, "execution_id"))
                }
        finally:
            engine.dispose()
        assert left == {"executions": ["kept"], "execution_events": ["kept"]}
        assert (await store.purge_finished(T0 + MINUTE, limit=10)).deleted == 1
    finally:
        await store.close()
