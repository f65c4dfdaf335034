"""A database an earlier release left (schema 0001, with an execution in it) upgrades to head and reads back."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, text

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.outcome import ResponseSnapshot
from coordinator.core.state import (
    AttemptExchange,
    Direction,
    ExecutionState,
    ExecutionStatus,
    PendingWakeup,
    StepState,
    StepStatus,
)
from coordinator.store import open_store, upgrade_to_head
from coordinator.store.migrate import schema_differences, upgrade_to

from .conftest import PG_ADMIN
from .factories import T0, error_response, sent_request

# The rows as revision 0001 wrote them: no lease columns, no request, response, note or actor.
_EXECUTION = {
    "id": "ex-old",
    "saga_name": "checkout",
    "saga_version": 2,
    "status": "running",
    "input": json.dumps({"order_id": "o-7"}),
    "idempotency_key": "k-old",
    "request_digest": "d-old",
    "trace_context": json.dumps({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}),
    "deadline_at_ms": None,
    "cancel_reason": None,
    "error_step": None,
    "error_message": None,
    "revision": 4,
    "created_at_ms": T0,
    "updated_at_ms": T0 + 40,
}
_STEPS = [
    {
        "execution_id": "ex-old",
        "idx": 0,
        "name": "reserve",
        "status": "succeeded",
        "attempts": 1,
        "compensation_attempts": 0,
        "compensation_budget_base": 0,
        "effect_possible": True,
        "last_error": None,
        "last_status_code": 201,
        "started_at_ms": T0 + 1,
        "finished_at_ms": T0 + 9,
        "deadline_at_ms": None,
        "response": json.dumps(
            {"status": 201, "headers": {"content-type": "application/json"}, "body": {"reservation_id": "res-9"}}
        ),
    },
    {
        "execution_id": "ex-old",
        "idx": 1,
        "name": "charge",
        "status": "running",
        "attempts": 1,
        "compensation_attempts": 0,
        "compensation_budget_base": 0,
        "effect_possible": False,
        "last_error": "attempt 1: HTTP 503",
        "last_status_code": 503,
        "started_at_ms": T0 + 10,
        "finished_at_ms": None,
        "deadline_at_ms": None,
        "response": None,
    },
]
_EVENTS = [
    {
        "execution_id": "ex-old",
        "seq": 1,
        "type": "execution_started",
        "at_ms": T0,
        "step": None,
        "direction": None,
        "attempt": None,
        "status_code": None,
        "error": None,
        "delay_ms": None,
        "duration_ms": None,
        "outcome": None,
    },
    {
        "execution_id": "ex-old",
        "seq": 2,
        "type": "attempt_failed",
        "at_ms": T0 + 30,
        "step": "charge",
        "direction": "action",
        "attempt": 1,
        "status_code": 503,
        "error": "HTTP 503",
        "delay_ms": None,
        "duration_ms": 12,
        "outcome": "retryable",
    },
]
_PENDING = {
    "execution_id": "ex-old",
    "kind": "wakeup",
    "step": 1,
    "direction": "action",
    "attempt": 2,
    "timeout_ms": None,
    "due_at_ms": T0 + 500,
    "created_at_ms": T0 + 40,
}


def _insert(table: str, row: dict[str, object]) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"


def _fill_as_revision_0001(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(text(_insert("executions", _EXECUTION)), _EXECUTION)
            for step in _STEPS:
                conn.execute(text(_insert("execution_steps", step)), step)
            for event in _EVENTS:
                conn.execute(text(_insert("execution_events", event)), event)
            conn.execute(text(_insert("pending_actions", _PENDING)), _PENDING)
    finally:
        engine.dispose()


def _expected_state() -> ExecutionState:
    return ExecutionState(
        id="ex-old",
        saga="checkout",
        version=2,
        status=ExecutionStatus.RUNNING,
        steps=(
            StepState(
                name="reserve",
                status=StepStatus.SUCCEEDED,
                attempts=1,
                effect_possible=True,
                last_status_code=201,
                started_at_ms=T0 + 1,
                finished_at_ms=T0 + 9,
                response=ResponseSnapshot(
                    status=201, headers={"content-type": "application/json"}, body={"reservation_id": "res-9"}
                ),
            ),
            StepState(
                name="charge",
                status=StepStatus.RUNNING,
                attempts=1,
                last_error="attempt 1: HTTP 503",
                last_status_code=503,
                started_at_ms=T0 + 10,
            ),
        ),
        created_at_ms=T0,
        updated_at_ms=T0 + 40,
        wakeup=PendingWakeup(step=1, direction=Direction.ACTION, attempt=2, due_at_ms=T0 + 500),
        revision=4,
        attention_at_ms=T0 + 40 + 15 * 60_000,  # r0004: unfinished, silent for the default alert_after
    )


async def _check_upgrade(url: str) -> None:
    upgrade_to(url, "0001")
    _fill_as_revision_0001(url)

    upgrade_to_head(url)

    assert schema_differences(url) == []
    store = await open_store(url, migrate=False)
    try:
        loaded = await store.load_execution("ex-old")
        assert loaded.state == _expected_state()
        assert loaded.input == {"order_id": "o-7"}
        assert await store.count_by_status() == {ExecutionStatus.RUNNING: 1}  # r0007 counted what was stored
        events = [e.event for e in (await store.list_events("ex-old", limit=10)).items]
        assert events[1] == HistoryEvent(
            type=HistoryEventType.ATTEMPT_FAILED,
            at_ms=T0 + 30,
            step="charge",
            direction=Direction.ACTION,
            attempt=1,
            status_code=503,
            error="HTTP 503",
            duration_ms=12,
            outcome="retryable",
        )

        # The upgraded database keeps what is said from now on.
        exchange = AttemptExchange(
            direction=Direction.ACTION, attempt=2, request=sent_request(), response=error_response()
        )
        decided = replace(
            loaded.state.with_step(1, replace(loaded.state.steps[1], attempts=2, last_exchange=exchange)),
            wakeup=None,
            updated_at_ms=T0 + 600,
        )
        said = HistoryEvent(
            type=HistoryEventType.ATTEMPT_FAILED,
            at_ms=T0 + 600,
            step="charge",
            direction=Direction.ACTION,
            attempt=2,
            status_code=422,
            request=sent_request(),
            response=error_response(),
        )
        committed = await store.commit(decided, (said,), expected_revision=4)
        assert (await store.load_execution("ex-old")).state == committed
        assert (await store.list_events("ex-old", after_seq=2, limit=10)).items[0].event == said
    finally:
        await store.close()


async def test_a_sqlite_database_at_revision_0001_upgrades_and_reads_back(tmp_path: Path) -> None:
    await _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.fixture
def unmigrated_postgres(postgres_url: str) -> Iterator[str]:
    """An empty database beside the session's, with no schema at all."""
    name = f"saga_upgrade_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
async def test_a_postgres_database_at_revision_0001_upgrades_and_reads_back(unmigrated_postgres: str) -> None:
    await _check_upgrade(unmigrated_postgres)
