"""A database written at revision 0004 (one pending action per execution) with executions in
flight upgrades to head (pending actions keyed per step and direction) and they finish."""

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

from coordinator.core import (
    AttemptCompleted,
    CallStep,
    Direction,
    ExecutionStatus,
    Resumed,
    WakeupFired,
    decide,
)
from coordinator.core.actions import ArmWakeup
from coordinator.core.events import Event
from coordinator.ports import SagaStore
from coordinator.store import open_store, upgrade_to_head
from coordinator.store.migrate import schema_differences, upgrade_to
from tests.unit.machine_helpers import OK, saga, step

from .conftest import PG_ADMIN
from .factories import T0

SPEC = replace(saga(step("reserve"), step("charge")), name="checkout", version=2)


def _execution(execution_id: str) -> dict[str, object]:
    return {
        "id": execution_id,
        "saga_name": "checkout",
        "saga_version": 2,
        "status": "running",
        "input": json.dumps({"order_id": execution_id}),
        "idempotency_key": None,
        "request_digest": None,
        "trace_context": json.dumps({}),
        "deadline_at_ms": None,
        "cancel_reason": None,
        "error_step": None,
        "error_message": None,
        "revision": 3,
        "created_at_ms": T0,
        "updated_at_ms": T0 + 40,
        "owner": None,
        "lease_until_ms": 0,
        "epoch": 1,
        "recovery_attempts": 0,
        "quarantined": None,
        "business_key": None,
        "finished_at_ms": None,
        "attention_at_ms": T0 + 60_000,
        "attention_noted": False,
    }


def _steps(execution_id: str, charge_attempts: int) -> list[dict[str, object]]:
    common = {
        "execution_id": execution_id,
        "compensation_attempts": 0,
        "compensation_budget_base": 0,
        "last_status_code": None,
        "deadline_at_ms": None,
        "response": None,
        "last_exchange": None,
        "resolution": None,
        "last_error": None,
    }
    return [
        {
            **common,
            "idx": 0,
            "name": "reserve",
            "status": "succeeded",
            "attempts": 1,
            "effect_possible": True,
            "started_at_ms": T0 + 1,
            "finished_at_ms": T0 + 9,
        },
        {
            **common,
            "idx": 1,
            "name": "charge",
            "status": "running",
            "attempts": charge_attempts,
            "effect_possible": False,
            "started_at_ms": T0 + 10,
            "finished_at_ms": None,
        },
    ]


_PENDING = [
    {
        "execution_id": "ex-call",
        "kind": "call",
        "step": 1,
        "direction": "action",
        "attempt": 1,
        "timeout_ms": 1_000,
        "due_at_ms": T0 + 1_010,
        "created_at_ms": T0 + 10,
    },
    {
        "execution_id": "ex-wait",
        "kind": "wakeup",
        "step": 1,
        "direction": "action",
        "attempt": 2,
        "timeout_ms": None,
        "due_at_ms": T0 + 500,
        "created_at_ms": T0 + 40,
    },
]


def _insert(table: str, row: dict[str, object]) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"


def _fill_as_revision_0004(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            for execution_id, attempts in (("ex-call", 1), ("ex-wait", 1)):
                row = _execution(execution_id)
                conn.execute(text(_insert("executions", row)), row)
                for step_row in _steps(execution_id, attempts):
                    conn.execute(text(_insert("execution_steps", step_row)), step_row)
            for pending in _PENDING:
                conn.execute(text(_insert("pending_actions", pending)), pending)
    finally:
        engine.dispose()


async def _drive(store: SagaStore, execution_id: str, event: Event, now_ms: int) -> tuple[object, ...]:
    record = await store.load_execution(execution_id)
    decision = decide(SPEC, record.state, event, now_ms=now_ms)
    await store.commit(decision.state, decision.history, expected_revision=record.state.revision)
    return decision.actions


async def _check(url: str) -> None:
    upgrade_to(url, "0004")
    _fill_as_revision_0004(url)

    upgrade_to_head(url)

    assert schema_differences(url) == []
    store = await open_store(url, migrate=False)
    try:
        calling = (await store.load_execution("ex-call")).state
        assert calling.in_flight is not None and calling.in_flight.attempt == 1 and not calling.member_calls
        waiting = (await store.load_execution("ex-wait")).state
        assert waiting.wakeup is not None and waiting.wakeup.attempt == 2 and not waiting.member_wakeups

        # The call in flight is re-sent under its key, and its answer finishes the execution.
        [resend] = await _drive(store, "ex-call", Resumed(), T0 + 100)
        assert isinstance(resend, CallStep) and resend.idempotency_key == "ex-call:charge:action"
        done = AttemptCompleted(step=1, direction=Direction.ACTION, attempt=1, outcome=OK)
        await _drive(store, "ex-call", done, T0 + 200)

        # The wake-up is re-armed, fires, and its attempt finishes the other.
        [arm] = await _drive(store, "ex-wait", Resumed(), T0 + 100)
        assert isinstance(arm, ArmWakeup) and arm.due_at_ms == T0 + 500
        [call] = await _drive(store, "ex-wait", WakeupFired(step=1, direction=Direction.ACTION, attempt=2), T0 + 500)
        assert isinstance(call, CallStep) and call.attempt == 2
        await _drive(
            store, "ex-wait", AttemptCompleted(step=1, direction=Direction.ACTION, attempt=2, outcome=OK), T0 + 600
        )

        for execution_id in ("ex-call", "ex-wait"):
            finished = (await store.load_execution(execution_id)).state
            assert finished.status is ExecutionStatus.COMPLETED
            assert not finished.calls and not finished.wakeups
    finally:
        await store.close()


async def test_a_sqlite_database_at_revision_0004_with_executions_in_flight_upgrades_and_finishes_them(
    tmp_path: Path,
) -> None:
    await _check(f"sqlite:///{tmp_path / 'old.db'}")


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
async def test_a_postgres_database_at_revision_0004_with_executions_in_flight_upgrades_and_finishes_them(
    unmigrated_postgres: str,
) -> None:
    await _check(unmigrated_postgres)
