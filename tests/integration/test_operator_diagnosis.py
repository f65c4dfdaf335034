"""What an SRE needs from the API to diagnose and resolve a saga (issue «The SRE's night»).

Real engine, real SQLite file and PostgreSQL, a scripted participant on loopback.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_api import PROBLEM, events, register, start

Client = httpx.AsyncClient


async def _failed_at_a(client: Client, participant: ScriptedParticipant) -> dict[str, Any]:
    """trip: c is declined, b is undone, a's undo keeps failing: `failed`, needing an operator."""
    participant.on("/a", Reply(status=201, body={"charge_id": "ch_1"}))
    participant.on("/c", Reply(status=422, body={"errors": [{"field": "to", "msg": "mailbox does not exist"}]}))
    participant.on("/a/undo", Reply(status=500, body={"error": {"code": "psp_down", "message": "PSP unavailable"}}))
    await register(
        client, three_steps(participant.url, compensation_retry={"max_attempts": 2, "initial_interval": "10ms"})
    )
    ex = await start(client, "trip", {"order": "o-7"})
    assert ex["status"] == "failed"
    return ex


async def test_every_attempt_keeps_what_was_sent_and_what_came_back(
    client: Client, participant: ScriptedParticipant
) -> None:
    ex = await _failed_at_a(client, participant)
    steps = {s["name"]: s for s in ex["steps"]}

    # The participant's nested reason is the readable line; the whole answer is one field away.
    assert steps["c"]["last_error"] == "attempt 1: HTTP 422: to: mailbox does not exist"
    c = steps["c"]["last_attempt"]
    assert c["direction"] == "action" and c["attempt"] == 1
    assert c["request"]["method"] == "POST" and c["request"]["url"] == f"{participant.url}/c"
    assert c["request"]["body"] == {"order": "o-7", "step": "c"}
    assert c["request"]["headers"]["Idempotency-Key"] == f"{ex['id']}:c:action"
    assert c["response"]["status"] == 422
    assert c["response"]["body"] == {"errors": [{"field": "to", "msg": "mailbox does not exist"}]}

    # A step that succeeded shows its answer: the charge id to refund by hand.
    assert steps["a"]["response"]["body"] == {"charge_id": "ch_1"}
    assert steps["a"]["effect_in_place"] is True  # its undo failed: the charge still stands
    assert steps["b"]["effect_in_place"] is False  # undone
    assert steps["a"]["last_attempt"]["direction"] == "compensation"
    assert steps["a"]["last_attempt"]["response"]["body"]["error"]["code"] == "psp_down"
    assert "psp_down: PSP unavailable" in ex["error"]["message"]

    # The history has every attempt's exchange too.
    history = await events(client, ex["id"])
    failed_c = next(e for e in history if e["type"] == "attempt_failed" and e["step"] == "c")
    assert failed_c["request"]["url"] == f"{participant.url}/c" and failed_c["response"]["status"] == 422
    succeeded_a = next(e for e in history if e["type"] == "attempt_succeeded" and e["step"] == "a")
    assert succeeded_a["response"]["body"] == {"charge_id": "ch_1"}


async def test_resolve_marks_the_compensation_done_by_hand_and_carries_the_rollback_on(
    client: Client, participant: ScriptedParticipant
) -> None:
    ex = await _failed_at_a(client, participant)
    note = "refunded ch_1 in the PSP dashboard"
    r = await client.post(f"/v1/executions/{ex['id']}/resolve", json={"step": "a", "note": note})
    assert r.status_code == 202, r.text
    done = (await client.get(f"/v1/executions/{ex['id']}", params={"wait": "10s"})).json()
    assert done["status"] == "compensated"
    a = next(s for s in done["steps"] if s["name"] == "a")
    assert a["status"] == "compensated" and a["resolution"]["note"] == note
    # The compensation's failure was resolved: it is history, not the current error, which says
    # again why the execution was rolled back (as it did before the compensation failed).
    assert "psp_down" in ex["error"]["message"]
    assert done["error"]["step"] == "c"
    assert done["error"]["message"] == "attempt 1: HTTP 422: to: mailbox does not exist"
    resolved = [e for e in await events(client, ex["id"]) if e["type"] == "compensation_resolved"]
    assert len(resolved) == 1 and resolved[0]["step"] == "a" and resolved[0]["note"] == note
    assert resolved[0]["actor"] is None  # the API is open in this test: nobody to name

    # Once resolved, nothing is left to resolve.
    again = await client.post(f"/v1/executions/{ex['id']}/resolve", json={"step": "a", "note": note})
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    assert "compensated" in again.json()["detail"]


async def test_resolve_refuses_what_does_not_apply(client: Client, participant: ScriptedParticipant) -> None:
    ex = await _failed_at_a(client, participant)
    url = f"/v1/executions/{ex['id']}/resolve"
    b_undone = await client.post(url, json={"step": "b", "note": "x"})
    assert b_undone.status_code == 409 and "only a step whose compensation failed" in b_undone.json()["detail"]
    unknown = await client.post(url, json={"step": "nosuch", "note": "x"})
    assert unknown.status_code == 409 and "no step 'nosuch'" in unknown.json()["detail"]
    blank = await client.post(url, json={"step": "a", "note": "  "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["path"] == "note"
    extra = await client.post(url, json={"step": "a", "note": "x", "force": True})
    assert extra.status_code == 422 and extra.json()["errors"][0]["path"] == "force"
    missing = await client.post("/v1/executions/nope/resolve", json={"step": "a", "note": "x"})
    assert missing.status_code == 404
    assert (await client.get(f"/v1/executions/{ex['id']}")).json()["status"] == "failed"  # nothing changed


async def test_a_start_body_without_the_input_wrapper_is_refused(
    client: Client, participant: ScriptedParticipant
) -> None:
    await register(client, three_steps(participant.url))
    r = await client.post("/v1/sagas/trip/executions", json={"order": "o-1"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["errors"][0]["path"] == "order" and '"input"' in problem["detail"]
    assert (await client.get("/v1/executions")).json()["items"] == []  # nothing started
    # The schema's own message speaks JSON, not Python.
    r = await client.post("/v1/sagas/trip/executions", json={})
    assert r.status_code == 422 and "null is not of type" in r.json()["errors"][0]["message"]


async def test_output_is_the_template_or_the_last_answer(client: Client, participant: ScriptedParticipant) -> None:
    participant.on("/a", Reply(status=201, body={"account": {"id": "acc-9"}}))
    participant.on("/c", Reply(status=200, body={"mailed": True}))
    await register(client, three_steps(participant.url))
    plain = await start(client, "trip", {"order": "o"})
    assert plain["status"] == "completed"
    assert (await client.get(f"/v1/executions/{plain['id']}")).json()["output"] == {"mailed": True}

    doc = three_steps(participant.url, name="signup")
    doc["output"] = {
        "account": "{{ steps.a.response.body.account.id }}",
        "mailed": "{{ steps.c.response.body.mailed }}",
    }
    await register(client, doc)
    templated = await start(client, "signup", {"order": "o"})
    got = (await client.get(f"/v1/executions/{templated['id']}")).json()
    assert got["output"] == {"account": "acc-9", "mailed": True} and got["output_error"] is None


async def test_a_waiting_retry_says_when_it_is_due_and_why(client: Client, participant: ScriptedParticipant) -> None:
    participant.on("/b", Reply(status=503, body={"detail": "warming up"}), Reply(status=200))
    await register(
        client, three_steps(participant.url, retry={"max_attempts": 3, "initial_interval": "30s", "jitter": "none"})
    )
    r = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "o"}})
    eid = r.json()["id"]
    for _ in range(200):
        ex = (await client.get(f"/v1/executions/{eid}")).json()
        if ex["next_attempt"] is not None:
            break
        await asyncio.sleep(0.02)
    nxt = ex["next_attempt"]
    assert nxt is not None, ex
    assert (nxt["step"], nxt["direction"], nxt["attempt"]) == ("b", "action", 2)
    assert nxt["reason"] == "attempt 1: HTTP 503: warming up"
    b = next(s for s in ex["steps"] if s["name"] == "b")
    assert b["next_attempt_at"] == nxt["due_at"] and b["status"] == "running"
    assert (await client.post(f"/v1/executions/{eid}/cancel")).status_code == 202


@pytest.mark.parametrize("secret", ["psp_key"])
async def test_a_secret_that_is_not_set_is_refused_at_registration(
    client: Client, participant: ScriptedParticipant, secret: str
) -> None:
    doc = three_steps(participant.url)
    doc["steps"][0]["action"]["headers"] = {"Authorization": "Bearer {{ secrets." + secret + " }}"}
    r = await client.post("/v1/sagas", json=doc)
    assert r.status_code == 422
    problem = r.json()["errors"][0]
    assert problem["path"].startswith("steps[0].action.headers") and "SAGA_SECRET_PSP_KEY" in problem["message"]
