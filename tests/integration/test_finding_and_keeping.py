"""Finding, watching, acting in bulk and keeping the database small, through the API (SPEC section 8).

A real engine on a SQLite file and on PostgreSQL, a scripted participant on loopback. The periodic
jobs (attention watch, retention) are run by calling them, not by waiting for their timers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from coordinator.api import create_app
from coordinator.core.state import ExecutionStatus
from coordinator.engine.housekeeping import RETENTION_BATCH
from coordinator.engine.pacing import MAX_BATCH, Pacer, PacingPolicy
from coordinator.ports import Purged
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.contract.factories import T0, plain_state, record
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_api import PROBLEM, register, start

Client = httpx.AsyncClient
ROOT = Path(__file__).resolve().parents[2]


def keyed(url: str, **extra: Any) -> dict[str, Any]:
    doc = three_steps(url, compensation_retry={"max_attempts": 1, "initial_interval": "10ms"})
    return {**doc, "key": "{{ input.order }}", **extra}


async def ids(client: Client, **params: Any) -> list[str]:
    r = await client.get("/v1/executions", params=params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["items"]]


async def test_the_business_key_is_rendered_at_start_and_finds_the_execution(
    client: Client, participant: ScriptedParticipant
) -> None:
    await register(client, keyed(participant.url))
    first = await start(client, "trip", {"order": "ord-42"})
    second = await start(client, "trip", {"order": "ord-42"})
    await start(client, "trip", {"order": "ord-7"})
    assert first["key"] == "ord-42"
    assert await ids(client, key="ord-42") == [second["id"], first["id"]]
    assert await ids(client, key="ord-1") == []
    got = (await client.get(f"/v1/executions/{first['id']}")).json()
    assert got["key"] == "ord-42"


async def test_a_key_that_cannot_be_rendered_is_refused_at_start(
    client: Client, participant: ScriptedParticipant
) -> None:
    await register(client, keyed(participant.url, input_schema=None))
    r = await client.post("/v1/sagas/trip/executions", json={"input": {"other": 1}})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"][0]["path"] == "key" and "input.order" in r.json()["errors"][0]["message"]
    assert await ids(client) == []  # nothing was started: no broken execution
    bad = await client.post("/v1/sagas", json={**keyed(participant.url), "name": "bad", "key": "{{ steps.a.x }}"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "key"


async def test_an_unknown_filter_is_refused_rather_than_ignored(client: Client) -> None:
    r = await client.get("/v1/executions", params={"stauts": "failed"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "stauts"
    r = await client.get("/v1/executions", params={"created_after": "yesterday"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "created_after"


async def test_failed_and_stalled_executions_need_attention(
    client: Client, participant: ScriptedParticipant, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    participant.on("/c", Reply(status=400))
    participant.on("/a/undo", Reply(status=500))
    await register(client, keyed(participant.url))
    failed = await start(client, "trip", {"order": "ord-1"})
    assert failed["status"] == "failed" and failed["attention"] == "failed"

    slow = keyed(participant.url, name="slow", alert_after="1s")
    slow["steps"][1]["retry"] = {"max_attempts": 2, "initial_interval": "20s", "jitter": "none"}
    participant.on("/b", Reply(status=503))
    await register(client, slow)
    r = await client.post("/v1/sagas/slow/executions", json={"input": {"order": "ord-2"}})
    waiting = r.json()["id"]
    for _ in range(300):  # until it waits for its retry, then past alert_after without news
        got = (await client.get(f"/v1/executions/{waiting}")).json()
        if got["attention"] == "stalled":
            break
        await asyncio.sleep(0.02)
    assert got["attention"] == "stalled" and got["status"] == "running"

    listed = (await client.get("/v1/executions", params={"attention": "true"})).json()["items"]
    assert {(e["id"], e["attention"]) for e in listed} == {(failed["id"], "failed"), (waiting, "stalled")}

    with caplog.at_level(logging.WARNING, logger="coordinator.saga"):
        await runtime.engine.housekeeping.watch_attention()
        await runtime.engine.housekeeping.watch_attention()  # once per execution, not per run
    warned = [r for r in caplog.records if getattr(r, "event", None) == "needs_attention"]
    assert sorted((r.execution_id, r.reason) for r in warned) == sorted(  # type: ignore[attr-defined]
        [(failed["id"], "failed"), (waiting, "stalled")]
    )
    metrics = (await client.get("/metrics")).text
    assert 'saga_executions_needing_attention{reason="failed",saga="trip"} 1.0' in metrics
    assert 'saga_executions_needing_attention{reason="stalled",saga="slow"} 1.0' in metrics
    # The shipped alerting rules read metrics that exist, with the reasons the coordinator reports.
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "saga-alerts.yaml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert {name for expr in exprs for name in re.findall(r"saga_[a-z_]+", expr)} <= set(
        re.findall(r"^(saga_[a-z_]+)", metrics, flags=re.MULTILINE)
    )
    assert {reason for expr in exprs for reason in re.findall(r'reason="(\w+)"', expr)} == {
        "failed",
        "quarantined",
        "stalled",
    }
    await client.post(f"/v1/executions/{waiting}/cancel")


async def test_bulk_retry_answers_per_id_and_never_touches_everything(
    client: Client, participant: ScriptedParticipant
) -> None:
    participant.on("/c", Reply(status=400))
    participant.on("/a/undo", Reply(status=500))
    await register(client, keyed(participant.url))
    broken = [(await start(client, "trip", {"order": f"o-{i}"}))["id"] for i in range(3)]
    participant.script["/c"].clear()
    done = (await start(client, "trip", {"order": "o-ok"}))["id"]
    assert (await client.get(f"/v1/executions/{done}")).json()["status"] == "completed"

    nothing = await client.post("/v1/executions/retry", json={})
    assert nothing.status_code == 422 and "never touches all" in nothing.json()["errors"][0]["message"]
    too_many = await client.post("/v1/executions/retry", json={"status": "failed", "limit": 1001})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["path"] == "limit"

    dry = (await client.post("/v1/executions/retry", json={"status": "failed", "dry_run": True})).json()
    assert dry["dry_run"] is True and sorted(r["id"] for r in dry["results"]) == sorted(broken)
    assert {r["outcome"] for r in dry["results"]} == {"accepted"}
    assert all(e["status"] == "failed" for e in [(await client.get(f"/v1/executions/{i}")).json() for i in broken])

    participant.script["/a/undo"].clear()  # the participant is fixed: the retries will succeed
    mixed = await client.post("/v1/executions/retry", json={"ids": [broken[0], done, "no-such-id"]})
    outcomes = {r["id"]: r["outcome"] for r in mixed.json()["results"]}
    assert outcomes == {broken[0]: "accepted", done: "not_applicable", "no-such-id": "not_found"}

    rest = (await client.post("/v1/executions/retry", json={"status": "failed", "saga": "trip"})).json()
    assert sorted(r["id"] for r in rest["results"]) == sorted(broken[1:]) and rest["more"] is False
    for execution_id in broken:
        final = (await client.get(f"/v1/executions/{execution_id}", params={"wait": "10s"})).json()
        assert final["status"] == "compensated"


@pytest.fixture
async def kept_for_a_moment(tmp_path: Path, participant: ScriptedParticipant) -> AsyncIterator[tuple[Client, Runtime]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'saga.db'}", retention_ms=1, archive_dir=tmp_path / "archive"
    )
    runtime = await Runtime.open(settings)
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            yield c, runtime
    finally:
        await runtime.close()


async def test_retention_archives_then_deletes_finished_executions_and_keeps_failed_ones(
    kept_for_a_moment: tuple[Client, Runtime], participant: ScriptedParticipant, tmp_path: Path
) -> None:
    client, runtime = kept_for_a_moment
    await register(client, keyed(participant.url))
    done = (await start(client, "trip", {"order": "kept-1"}))["id"]
    participant.on("/c", Reply(status=400))
    undone = (await start(client, "trip", {"order": "kept-2"}))["id"]
    participant.on("/a/undo", Reply(status=500))
    failed = (await start(client, "trip", {"order": "kept-3"}))["id"]
    await asyncio.sleep(0.01)  # the retention is 1 ms: let it pass for the last one

    assert await runtime.engine.housekeeping.apply_retention() == 2
    assert await ids(client) == [failed]
    archive = list((tmp_path / "archive").glob("executions-*.jsonl"))
    assert len(archive) == 1
    lines = [json.loads(line) for line in archive[0].read_text().splitlines()]
    assert sorted(doc["execution"]["id"] for doc in lines) == sorted([done, undone])
    assert all(doc["history"] and doc["steps"] for doc in lines)
    assert await runtime.engine.housekeeping.apply_retention() == 0


class _CountingStore:
    """Wraps the runtime's store to see each purge batch retention asks for (and when)."""

    def __init__(self, runtime: Runtime, *, slower_s: float = 0.0) -> None:
        self.batches: list[tuple[float, int, int]] = []
        self._purge = runtime.store.purge_finished

        async def purge(finished_before_ms: int, *, limit: int, archive: Any = None) -> Purged:
            purged = await self._purge(finished_before_ms, limit=limit, archive=archive)
            if slower_s:  # as if the batch's work had taken that much longer (a slow disk)
                await asyncio.sleep(slower_s)
                purged = Purged(purged.deleted, purged.busy_s + slower_s)
            self.batches.append((time.monotonic(), limit, purged.deleted))
            return purged

        runtime.store.purge_finished = purge  # type: ignore[method-assign]


async def _finished_backlog(runtime: Runtime, count: int) -> None:
    base = record(plain_state("x"))

    async def one(i: int) -> None:
        state = replace(
            plain_state(f"old-{i:04d}", created_at_ms=T0 + i), status=ExecutionStatus.COMPLETED, finished_at_ms=T0 + i
        )
        await runtime.store.create_execution(replace(base, state=state), ())

    for first in range(0, count, 64):  # concurrent: one group commit each
        await asyncio.gather(*(one(i) for i in range(first, min(count, first + 64))))


async def test_retention_deletes_a_backlog_in_batches_sized_to_the_target_with_pauses_between(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", retention_ms=1)
    runtime = await Runtime.open(settings)
    try:
        await _finished_backlog(runtime, 400)
        seen = _CountingStore(runtime)
        # Any batch is "quick" against a 10 s target: the sizes double up to the cap, no further.
        policy = PacingPolicy(target_batch_s=10.0, first_batch=10, max_batch=100, min_pause_s=0.01)
        runtime.engine.housekeeping.pacer = Pacer(policy)

        assert await runtime.engine.housekeeping.apply_retention() == 400

        assert [limit for _, limit, _ in seen.batches] == [10, 20, 40, 80, 100, 100, 100]
        assert [deleted for _, _, deleted in seen.batches] == [10, 20, 40, 80, 100, 100, 50]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen.batches)]
        assert all(gap >= 0.01 for gap in gaps)  # the writer is handed back in between
        assert await runtime.service.count_by_status() == {}
    finally:
        await runtime.close()


async def test_retention_shrinks_its_batches_when_they_take_longer_than_the_target(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", retention_ms=1)
    runtime = await Runtime.open(settings)
    try:
        await _finished_backlog(runtime, 160)
        seen = _CountingStore(runtime, slower_s=0.2)
        policy = PacingPolicy(target_batch_s=0.01, first_batch=80, min_batch=10, base_share=0.9, max_share=0.9)
        runtime.engine.housekeeping.pacer = Pacer(policy)

        assert await runtime.engine.housekeeping.apply_retention() == 160

        assert [limit for _, limit, _ in seen.batches][:4] == [80, 40, 20, 10]
        assert max(limit for _, limit, _ in seen.batches[3:]) == 10
    finally:
        await runtime.close()


async def test_retention_makes_progress_while_sagas_write_and_they_keep_committing(tmp_path: Path) -> None:
    """Retention and a stream of writes share SQLite's one writer: both go on, and the backlog is
    gone by the end, at batches within the cap."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", retention_ms=60_000)
    runtime = await Runtime.open(settings)
    try:
        await _finished_backlog(runtime, 600)
        seen = _CountingStore(runtime)
        housekeeping = runtime.engine.housekeeping
        housekeeping.pacer = Pacer(PacingPolicy(min_pause_s=0.001))
        stop = asyncio.Event()
        written: list[float] = []
        numbers = itertools.count()

        async def workload() -> None:
            base = record(plain_state("x"))
            while not stop.is_set():
                state = plain_state(f"new-{next(numbers):05d}", created_at_ms=T0 + 10_000)
                await runtime.store.create_execution(replace(base, state=state), ())
                written.append(time.monotonic())

        writers = [asyncio.create_task(workload()) for _ in range(4)]
        try:
            deleted = await asyncio.wait_for(housekeeping.apply_retention(), timeout=60)
        finally:
            stop.set()
            await asyncio.gather(*writers)

        assert deleted == 600
        assert all(limit <= MAX_BATCH for _, limit, _ in seen.batches)
        first, last = seen.batches[0][0], seen.batches[-1][0]
        assert sum(1 for at in written if first <= at <= last) > 0  # the writes were not shut out
        counts = await runtime.service.count_by_status()
        assert ExecutionStatus.COMPLETED not in counts and counts[ExecutionStatus.RUNNING] == len(written)
    finally:
        await runtime.close()


async def test_an_execution_that_changed_after_it_was_archived_is_not_deleted(tmp_path: Path) -> None:
    """SQLite archives a batch in a read snapshot and deletes it in a later write: only what is
    still at the revision archived is deleted; the rest stays, to be archived again."""
    from coordinator.store import retention

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", retention_ms=1)
    runtime = await Runtime.open(settings)
    try:
        await _finished_backlog(runtime, 3)
        engine = runtime.store._engine  # type: ignore[attr-defined]
        lines: list[str] = []
        with engine.begin() as conn:
            chosen = retention.choose_and_archive(conn, T0 + 10, 10, lines.extend)
        assert sorted(chosen.revisions) == ["old-0000", "old-0001", "old-0002"] and len(lines) == 3
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE executions SET revision = revision + 1 WHERE id = 'old-0001'")
        with engine.begin() as conn:
            assert retention.delete_chosen(conn, chosen) == 2
        assert await runtime.service.count_by_status() == {ExecutionStatus.COMPLETED: 1}
        assert (await runtime.store.load_execution("old-0001")).state.id == "old-0001"
    finally:
        await runtime.close()


async def test_a_retention_run_stops_at_its_time_budget_and_the_next_goes_on(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", retention_ms=1)
    runtime = await Runtime.open(settings)
    try:
        await _finished_backlog(runtime, RETENTION_BATCH * 3)
        housekeeping = runtime.engine.housekeeping
        housekeeping._run_s = 0.0  # as if each batch took the whole run's time

        assert await housekeeping.apply_retention() == RETENTION_BATCH  # one batch, then the budget is spent
        assert await housekeeping.apply_retention() == RETENTION_BATCH
        assert await runtime.service.count_by_status() == {ExecutionStatus.COMPLETED: RETENTION_BATCH}
    finally:
        await runtime.close()
