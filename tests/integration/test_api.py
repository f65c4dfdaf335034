"""The HTTP API against a real engine, a real SQLite file and a participant on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import yaml

from coordinator.runtime import Runtime
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant

Client = httpx.AsyncClient
PROBLEM = "application/problem+json"


async def register(client: Client, definition: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/sagas", json=definition)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


async def start(client: Client, saga: str, input_: Any, **kwargs: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/sagas/{saga}/executions", json={"input": input_}, params={"wait": "10s"}, **kwargs)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


async def events(client: Client, execution_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/executions/{execution_id}/events")
    assert r.status_code == 200
    items: list[dict[str, Any]] = r.json()["items"]
    return items


# -- definitions -----------------------------------------------------------------------------


async def test_register_yaml_then_versions_are_immutable(client: Client, participant: ScriptedParticipant) -> None:
    doc = three_steps(participant.url)
    r = await client.post("/v1/sagas", content=yaml.safe_dump(doc), headers={"content-type": "application/yaml"})
    assert r.status_code == 201 and r.json()["name"] == "trip" and r.json()["version"] == 1
    again = await client.post("/v1/sagas", json=doc)
    assert again.status_code == 200 and again.json() == {"name": "trip", "version": 1, "created": False}
    changed = {**doc, "description": "changed"}
    assert (await client.post("/v1/sagas", json=changed)).json()["version"] == 2
    clash = await client.post("/v1/sagas", json={**doc, "version": 1, "description": "other"})
    assert clash.status_code == 409 and clash.headers["content-type"].startswith(PROBLEM)
    latest = (await client.get("/v1/sagas/trip")).json()
    assert latest["version"] == 2 and latest["steps"] == ["a", "b", "c"]
    assert (await client.get("/v1/sagas/trip/versions/1")).json()["description"] == "three undoable steps"
    listed = (await client.get("/v1/sagas")).json()
    assert [s["name"] for s in listed["items"]] == ["trip"] and listed["next_cursor"] is None
    versions = (await client.get("/v1/sagas/trip/versions")).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]


async def test_invalid_definition_reports_every_problem_with_its_path(client: Client) -> None:
    bad = {
        "name": "Bad Name",
        "steps": [
            {"name": "a", "action": {"method": "POST", "url": "not a url", "timeout": "-5s"}},
            {"name": "a", "action": {"method": "POST", "url": "http://x/{{ steps.later.response.body.id }}"}},
            {"name": "later", "action": {"method": "POST", "url": "http://x/y"}},
        ],
    }
    r = await client.post("/v1/sagas", json=bad)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    paths = {e["path"] for e in problem["errors"]}
    assert "name" in paths
    assert any(p.startswith("steps[0].action.url") for p in paths)
    assert any(p.startswith("steps[0].action.timeout") for p in paths)
    assert any(p.startswith("steps[1]") for p in paths)  # duplicate name and a reference to a later step
    assert (await client.get("/v1/sagas")).json()["items"] == []  # nothing half-written


async def test_malformed_bodies_are_clear_problems(client: Client) -> None:
    r = await client.post("/v1/sagas", content=b"name: [unclosed", headers={"content-type": "application/yaml"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "$"
    r = await client.post("/v1/sagas/x/executions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)


async def test_unknown_names_are_404_problems(client: Client) -> None:
    for path in ("/v1/sagas/nope", "/v1/sagas/nope/versions/3", "/v1/executions/nope", "/v1/executions/nope/events"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["detail"]
    r = await client.post("/v1/sagas/nope/executions", json={"input": {}})
    assert r.status_code == 404 and "nope" in r.json()["detail"]


async def test_body_over_the_limit_is_413(client: Client) -> None:
    r = await client.post("/v1/sagas", content=b"x" * (65 * 1024), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)


# -- executions ------------------------------------------------------------------------------


async def test_happy_path_with_headers_participants_rely_on(client: Client, participant: ScriptedParticipant) -> None:
    await register(client, three_steps(participant.url))
    ex = await start(client, "trip", {"order": "o-1"})
    assert ex["status"] == "completed" and [s["status"] for s in ex["steps"]] == ["succeeded"] * 3
    assert len(ex["trace_id"]) == 32 and ex["error"] is None
    seen = participant.calls("/a")[0]
    assert seen.headers["idempotency-key"] == f"{ex['id']}:a:action"
    assert seen.headers["x-saga-execution-id"] == ex["id"] and seen.headers["x-saga-step"] == "a"
    assert seen.headers["traceparent"].split("-")[1] == ex["trace_id"]
    assert seen.body == {"order": "o-1", "step": "a"}
    types = [e["type"] for e in await events(client, ex["id"])]
    assert types[0] == "execution_started" and types[-1] == "execution_completed"
    assert types.count("attempt_succeeded") == 3


async def test_fatal_answer_rolls_back_newest_first(client: Client, participant: ScriptedParticipant) -> None:
    participant.on("/c", Reply(status=409, body={"detail": "no stock"}))
    await register(client, three_steps(participant.url))
    ex = await start(client, "trip", {"order": "o-2"})
    assert ex["status"] == "compensated"
    assert [s["status"] for s in ex["steps"]] == ["compensated", "compensated", "failed"]
    assert ex["error"]["step"] == "c" and "no stock" in ex["error"]["message"]
    undo = [r.path for r in participant.requests if r.path.endswith("/undo")]
    assert undo == ["/b/undo", "/a/undo"]
    assert participant.calls("/b/undo")[0].headers["idempotency-key"] == f"{ex['id']}:b:compensation"
    types = [e["type"] for e in await events(client, ex["id"])]
    assert "rollback_started" in types and types[-1] == "execution_compensated"


async def test_retryable_answers_are_retried_honouring_retry_after(
    client: Client, participant: ScriptedParticipant
) -> None:
    participant.on("/b", Reply(status=503, headers={"Retry-After": "1"}), Reply(status=500), Reply(status=201))
    await register(
        client,
        three_steps(
            participant.url,
            retry={"max_attempts": 3, "initial_interval": "10ms", "max_interval": "5s", "jitter": "none"},
        ),
    )
    ex = await start(client, "trip", {"order": "o-3"})
    assert ex["status"] == "completed" and ex["steps"][1]["attempts"] == 3
    calls = participant.calls("/b")
    assert calls[1].at - calls[0].at >= 0.9  # Retry-After: 1 was honoured
    assert {c.headers["idempotency-key"] for c in calls} == {f"{ex['id']}:b:action"}
    waits = [e for e in await events(client, ex["id"]) if e["type"] == "retry_scheduled"]
    assert [w["delay_ms"] for w in waits] == [1000, 20]


async def test_timeouts_are_unknown_outcomes_and_get_compensated(
    client: Client, participant: ScriptedParticipant
) -> None:
    participant.on("/b", Reply(delay_s=1.0))
    await register(
        client,
        three_steps(
            participant.url, timeout="200ms", retry={"max_attempts": 2, "initial_interval": "10ms", "jitter": "none"}
        ),
    )
    ex = await start(client, "trip", {"order": "o-4"})
    assert ex["status"] == "compensated"
    assert "timed out" in ex["steps"][1]["last_error"]
    assert [r.path for r in participant.requests if r.path.endswith("/undo")] == ["/b/undo", "/a/undo"]


async def test_input_schema_violation_is_422_and_writes_nothing(
    client: Client, participant: ScriptedParticipant
) -> None:
    await register(client, three_steps(participant.url))
    r = await client.post("/v1/sagas/trip/executions", json={"input": {"order": 5}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"].startswith("input")
    assert (await client.get("/v1/executions")).json()["items"] == []
    r = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "x"}, "version": "one"})
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith(PROBLEM)


async def test_idempotent_start(client: Client, participant: ScriptedParticipant) -> None:
    await register(client, three_steps(participant.url))
    headers = {"Idempotency-Key": "order-77"}
    first = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "o"}}, headers=headers)
    again = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "o"}}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "p"}}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    bad = await client.post(
        "/v1/sagas/trip/executions", json={"input": {"order": "o"}}, headers={"Idempotency-Key": "bad\tkey"}
    )
    assert bad.status_code == 422


async def test_cancel_lets_the_call_in_flight_finish_then_rolls_back(
    client: Client, participant: ScriptedParticipant
) -> None:
    participant.on("/b", Reply(delay_s=0.5, status=201))
    await register(client, three_steps(participant.url))
    r = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "o"}})
    eid = r.json()["id"]
    for _ in range(100):
        if participant.calls("/b"):
            break
        await asyncio.sleep(0.02)
    cancel = await client.post(f"/v1/executions/{eid}/cancel")
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"] is True
    ex = (await client.get(f"/v1/executions/{eid}", params={"wait": "10s"})).json()
    assert ex["status"] == "compensated"
    assert [r.path for r in participant.requests if r.path.endswith("/undo")] == ["/b/undo", "/a/undo"]
    assert not participant.calls("/c")
    again = await client.post(f"/v1/executions/{eid}/cancel")
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)


async def test_failed_compensation_parks_the_execution_until_an_operator_retries(
    client: Client, participant: ScriptedParticipant
) -> None:
    participant.on("/c", Reply(status=400))
    participant.on("/a/undo", Reply(status=500, body={"detail": "ledger locked"}))
    await register(
        client, three_steps(participant.url, compensation_retry={"max_attempts": 2, "initial_interval": "10ms"})
    )
    ex = await start(client, "trip", {"order": "o"})
    assert ex["status"] == "failed"
    assert ex["error"]["step"] == "a" and "ledger locked" in ex["error"]["message"]
    assert [s["status"] for s in ex["steps"]] == ["compensation_failed", "compensated", "failed"]
    participant.script["/a/undo"].clear()  # the participant is fixed
    r = await client.post(f"/v1/executions/{ex['id']}/retry")
    assert r.status_code == 202
    done = (await client.get(f"/v1/executions/{ex['id']}", params={"wait": "10s"})).json()
    assert done["status"] == "compensated"
    assert (await client.post(f"/v1/executions/{ex['id']}/retry")).status_code == 409


async def test_template_failing_at_call_time_is_a_clear_fatal_error(
    client: Client, participant: ScriptedParticipant
) -> None:
    doc = three_steps(participant.url)
    doc["steps"][1]["action"]["body"] = {"id": "{{ steps.a.response.body.missing }}"}
    await register(client, doc)
    ex = await start(client, "trip", {"order": "o"})
    assert ex["status"] == "compensated"
    assert "steps.a.response.body.missing" in ex["error"]["message"]
    assert not participant.calls("/b")


async def test_executions_pin_their_version(client: Client, participant: ScriptedParticipant) -> None:
    doc = three_steps(participant.url)
    await register(client, doc)
    await register(client, {**doc, "description": "v2"})
    r = await client.post(
        "/v1/sagas/trip/executions", json={"input": {"order": "o"}, "version": 1}, params={"wait": "10s"}
    )
    assert r.json()["version"] == 1
    latest = await start(client, "trip", {"order": "o"})
    assert latest["version"] == 2
    missing = await client.post("/v1/sagas/trip/executions", json={"input": {"order": "o"}, "version": 9})
    assert missing.status_code == 404


async def test_listing_is_newest_first_with_keyset_pagination(client: Client, participant: ScriptedParticipant) -> None:
    participant.on("/c", Reply(status=409))
    await register(client, three_steps(participant.url))
    ids = [(await start(client, "trip", {"order": str(i)}))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/executions", params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    compensated = (await client.get("/v1/executions", params={"status": "compensated"})).json()["items"]
    assert len(compensated) == 5
    assert (await client.get("/v1/executions", params={"saga": "other"})).json()["items"] == []
    assert (await client.get("/v1/executions", params={"status": "bogus"})).status_code == 422
    assert (await client.get("/v1/executions", params={"cursor": "garbage!"})).status_code == 422
    assert (await client.get("/v1/executions", params={"limit": 0})).status_code == 400


async def test_event_pages(client: Client, participant: ScriptedParticipant) -> None:
    await register(client, three_steps(participant.url))
    ex = await start(client, "trip", {"order": "o"})
    everything = await events(client, ex["id"])
    first = (await client.get(f"/v1/executions/{ex['id']}/events", params={"limit": 3})).json()
    second = (
        await client.get(f"/v1/executions/{ex['id']}/events", params={"limit": 100, "cursor": first["next_cursor"]})
    ).json()
    assert [e["seq"] for e in first["items"] + second["items"]] == [e["seq"] for e in everything]
    assert second["next_cursor"] is None
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))


async def test_health_readiness_and_metrics(client: Client, participant: ScriptedParticipant, runtime: Runtime) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "detail": None}
    assert (await client.get("/readyz")).status_code == 200
    await register(client, three_steps(participant.url))
    await start(client, "trip", {"order": "o"})
    text = (await client.get("/metrics")).text
    assert 'saga_executions_started_total{saga="trip"} 1.0' in text
    assert 'saga_executions_finished_total{saga="trip",status="completed"} 1.0' in text
    assert "saga_executions_in_flight" in text and "saga_wakeups_pending" in text


async def test_metadata_targets_are_refused_at_registration(client: Client) -> None:
    doc = three_steps("http://169.254.169.254")
    r = await client.post("/v1/sagas", json=doc)
    assert r.status_code == 422
    assert any(e["path"] == "steps[0].action.url" and "metadata" in e["message"] for e in r.json()["errors"])


async def test_unknown_routes_and_methods_are_problems(client: Client) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.delete("/v1/sagas")
    assert r.status_code == 405 and r.headers["content-type"].startswith(PROBLEM)
