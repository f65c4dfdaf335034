"""A group and a pivot are visible: the execution JSON, the saga's view, and member spans that
overlap under the saga span with the group's name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_api import register, start
from tests.integration.test_telemetry import Traced, _open_telemetry, only


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[Traced]:
    """A coordinator on SQLite whose spans are kept in memory."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0.5)
    exporter = InMemorySpanExporter()
    runtime = await Runtime.open(settings, telemetry=_open_telemetry(exporter))
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            yield Traced(exporter, c, runtime)
    finally:
        await runtime.close()


def checkout(url: str) -> dict[str, Any]:
    def step(name: str, *, undo: bool = True, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "action": {"method": "POST", "url": f"{url}/{name}"}, **extra}
        if undo:
            body["compensation"] = {"method": "POST", "url": f"{url}/{name}/undo"}
        return body

    return {
        "name": "grouped",
        "steps": [
            step("reserve"),
            {"parallel": {"name": "pay_and_book", "steps": [step("charge"), step("book")]}},
            step("ship", undo=False, pivot=True),
            step("confirm", undo=False),
        ],
    }


async def test_members_overlap_under_the_saga_span_and_the_views_say_group_and_pivot(
    traced: Traced, participant: ScriptedParticipant
) -> None:
    participant.on("/charge", Reply(status=200, body={"id": "c-1"}, delay_s=0.2))
    participant.on("/book", Reply(status=200, body={"id": "b-1"}, delay_s=0.2))
    await register(traced.client, checkout(participant.url))
    ex = await start(traced.client, "grouped", {})
    assert ex["status"] == "completed"
    steps = {s["name"]: s for s in ex["steps"]}
    assert [s["name"] for s in ex["steps"]] == ["reserve", "charge", "book", "ship", "confirm"]
    assert (steps["charge"]["group"], steps["book"]["group"], steps["reserve"]["group"]) == (
        "pay_and_book",
        "pay_and_book",
        None,
    )
    assert [name for name, s in steps.items() if s["pivot"]] == ["ship"]

    saga = (await traced.client.get("/v1/sagas/grouped")).json()
    assert saga["pivot"] == "ship"
    assert saga["groups"] == [{"name": "pay_and_book", "steps": ["charge", "book"]}]
    assert saga["steps"] == ["reserve", "charge", "book", "ship", "confirm"]

    spans = traced.spans(ex["trace_id"])
    root = only(spans, "saga grouped")
    charge, book = only(spans, "step charge"), only(spans, "step book")
    for member in (charge, book):
        assert member.parent is not None and root.context is not None
        assert member.parent.span_id == root.context.span_id
        assert member.attributes is not None and member.attributes["saga.group"] == "pay_and_book"
    assert charge.start_time is not None and book.start_time is not None
    assert charge.end_time is not None and book.end_time is not None
    assert charge.start_time < book.end_time and book.start_time < charge.end_time  # side by side
    reserve = only(spans, "step reserve")
    assert reserve.attributes is not None and "saga.group" not in reserve.attributes


async def test_cancel_past_the_pivot_is_409_and_a_failure_there_is_failed_going_forward(
    traced: Traced, participant: ScriptedParticipant
) -> None:
    participant.on("/confirm", Reply(status=422, body={"detail": "mailbox full"}), Reply(status=200, body={}))
    await register(traced.client, checkout(participant.url))
    ex = await start(traced.client, "grouped", {})
    assert ex["status"] == "failed"
    assert ex["error"]["step"] == "confirm" and ex["error"]["direction"] == "action"
    assert all(s["status"] != "compensated" for s in ex["steps"])
    r = await traced.client.post(f"/v1/executions/{ex['id']}/cancel")
    assert r.status_code == 409 and "pivot" in r.json()["detail"]
    r = await traced.client.post(f"/v1/executions/{ex['id']}/retry")
    assert r.status_code == 202
    done = (await traced.client.get(f"/v1/executions/{ex['id']}", params={"wait": "10s"})).json()
    assert done["status"] == "completed"
