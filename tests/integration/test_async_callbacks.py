"""Asynchronous participants (SPEC 7.3), end to end through the API: a real loopback participant
answers 202 and the test, playing its worker, calls back on the URL it was given."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.integration.scripted_participant import Reply, ScriptedParticipant

Client = httpx.AsyncClient
PROBLEM = "application/problem+json"
CALLBACK_HEADER = "x-saga-callback-url"


def async_saga(
    url: str,
    *,
    name: str = "pay",
    timeout: str = "5s",
    heartbeat: str | None = None,
    attempts: int = 1,
    compensation_async: bool = False,
) -> dict[str, Any]:
    """reserve -> charge (async) -> ship (reads the callback's body)."""
    wait: dict[str, Any] = {"timeout": timeout}
    if heartbeat is not None:
        wait["heartbeat"] = heartbeat
    charge_undo: dict[str, Any] = {"method": "POST", "url": f"{url}/refund"}
    if compensation_async:
        charge_undo["async"] = {"timeout": "5s"}
    return {
        "name": name,
        "steps": [
            {
                "name": "reserve",
                "action": {"method": "POST", "url": f"{url}/reserve"},
                "compensation": {"method": "POST", "url": f"{url}/release"},
            },
            {
                "name": "charge",
                "action": {"method": "POST", "url": f"{url}/charge", "async": wait},
                "compensation": charge_undo,
                "retry": {"max_attempts": attempts, "initial_interval": "10ms", "jitter": "none"},
            },
            {
                "name": "ship",
                "action": {
                    "method": "POST",
                    "url": f"{url}/ship",
                    "body": {"charge": "{{ steps.charge.response.body.charge_id }}"},
                },
            },
        ],
    }


async def setup(client: Client, participant: ScriptedParticipant, **options: Any) -> str:
    participant.on("/charge", Reply(status=202, body={"accepted": True}))
    definition = async_saga(participant.url, **options)
    r = await client.post("/v1/sagas", json=definition)
    assert r.status_code == 201, r.text
    started = await client.post(f"/v1/sagas/{definition['name']}/executions", json={"input": {}})
    assert started.status_code == 201, started.text
    execution_id: str = started.json()["id"]
    return execution_id


async def until(client: Client, execution_id: str, check: Any, *, timeout_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await client.get(f"/v1/executions/{execution_id}")).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"gave up waiting; last seen {body}"
        await asyncio.sleep(0.02)


def step(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in body["steps"] if s["name"] == name)
    return found


def waiting(name: str = "charge") -> Any:
    return lambda body: step(body, name)["status"] == "waiting"


def ended(body: dict[str, Any]) -> bool:
    return body["status"] in ("completed", "compensated", "failed")


def callback_path(participant: ScriptedParticipant, call: int = -1, path: str = "/charge") -> str:
    """The path of the callback URL the participant was given on its `call`-th request."""
    url = participant.calls(path)[call].headers[CALLBACK_HEADER]
    return "/v1/callbacks/" + url.split("/v1/callbacks/", 1)[1]


async def events(client: Client, execution_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get(f"/v1/executions/{execution_id}/events")).json()["items"]
    return items


async def test_a_202_waits_and_a_succeeded_callback_completes_the_step_with_its_body(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant)
    body = await until(client, execution_id, waiting())
    assert body["status"] == "running"
    assert participant.calls("/ship") == []
    types = [e["type"] for e in await events(client, execution_id)]
    assert types[-1] == "attempt_waiting"
    path = callback_path(participant)
    assert path.startswith("/v1/callbacks/") and len(path) > len("/v1/callbacks/") + 40

    r = await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "ch_42"}})
    assert r.status_code == 202, r.text
    body = await until(client, execution_id, ended)
    assert body["status"] == "completed"
    assert participant.calls("/ship")[0].body == {"charge": "ch_42"}
    history = await events(client, execution_id)
    received = [e for e in history if e["type"] == "callback_received"]
    assert len(received) == 1 and received[0]["step"] == "charge" and received[0]["attempt"] == 1

    again = await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "ch_42"}})
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    other = await client.post(path, json={"outcome": "failed", "error": "changed my mind"})
    assert other.status_code == 409 and other.headers["content-type"].startswith(PROBLEM)
    late_heartbeat = await client.post(path + "/heartbeat")
    assert late_heartbeat.status_code in (404, 409)
    assert len(await events(client, execution_id)) == len(history)  # none of them changed anything


async def test_a_failed_callback_is_fatal_with_nothing_to_undo_for_that_step(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant, attempts=3)
    await until(client, execution_id, waiting())
    r = await client.post(callback_path(participant), json={"outcome": "failed", "error": "card declined"})
    assert r.status_code == 202, r.text
    body = await until(client, execution_id, ended)
    assert body["status"] == "compensated"
    assert "card declined" in body["error"]["message"] and body["error"]["step"] == "charge"
    assert len(participant.calls("/charge")) == 1  # fatal: not retried
    assert participant.calls("/refund") == []  # nothing to undo for the step that said it failed
    assert len(participant.calls("/release")) == 1


async def test_a_timeout_is_an_unknown_outcome_retried_with_a_new_token(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant, timeout="300ms", attempts=2)
    await until(client, execution_id, lambda b: len(participant.calls("/charge")) == 2 and waiting()(b))
    first, second = callback_path(participant, 0), callback_path(participant, 1)
    assert first != second
    superseded = await client.post(first, json={"outcome": "succeeded", "body": {"charge_id": "old"}})
    assert superseded.status_code == 409, superseded.text
    r = await client.post(second, json={"outcome": "succeeded", "body": {"charge_id": "new"}})
    assert r.status_code == 202, r.text
    body = await until(client, execution_id, ended)
    assert body["status"] == "completed"
    assert participant.calls("/ship")[0].body == {"charge": "new"}
    failed = [e for e in await events(client, execution_id) if e["type"] == "attempt_failed"]
    assert failed[0]["outcome"] == "unknown" and "no callback" in failed[0]["error"]


async def test_a_timeout_without_retries_left_compensates_the_step(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant, timeout="200ms", attempts=1)
    path_seen: list[str] = []
    await until(client, execution_id, lambda b: bool(participant.calls("/charge")))
    path_seen.append(callback_path(participant))
    body = await until(client, execution_id, ended)
    assert body["status"] == "compensated"
    assert len(participant.calls("/refund")) == 1  # may have taken effect: undone
    expired = await client.post(path_seen[0], json={"outcome": "succeeded", "body": {}})
    unknown = await client.post("/v1/callbacks/" + "A" * 80, json={"outcome": "succeeded", "body": {}})
    assert expired.status_code == unknown.status_code == 404
    assert expired.json() == unknown.json()


async def test_heartbeats_keep_a_wait_alive_past_the_heartbeat_interval(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant, timeout="10s", heartbeat="1s")
    await until(client, execution_id, waiting())
    path = callback_path(participant)
    begun = time.monotonic()
    while time.monotonic() - begun < 2.5:  # well past the heartbeat interval
        r = await client.post(path + "/heartbeat")
        assert r.status_code == 202, r.text
        await asyncio.sleep(0.15)
    assert step((await client.get(f"/v1/executions/{execution_id}")).json(), "charge")["status"] == "waiting"
    r = await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "hb"}})
    assert r.status_code == 202
    assert (await until(client, execution_id, ended))["status"] == "completed"
    assert any(e["type"] == "heartbeat_received" for e in await events(client, execution_id))


async def test_no_heartbeat_within_the_interval_is_an_unknown_outcome(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant, timeout="10s", heartbeat="300ms")
    begun = time.monotonic()
    body = await until(client, execution_id, ended)
    assert time.monotonic() - begun < 5  # the heartbeat deadline, not the 10 s timeout
    assert body["status"] == "compensated" and "no heartbeat" in body["error"]["message"]


async def test_an_async_compensation_follows_the_same_protocol(
    client: Client, participant: ScriptedParticipant
) -> None:
    participant.on("/ship", Reply(status=409, body={"error": "no courier"}))
    participant.on("/refund", Reply(status=202))
    execution_id = await setup(client, participant, compensation_async=True)
    await until(client, execution_id, waiting())
    r = await client.post(callback_path(participant), json={"outcome": "succeeded", "body": {"charge_id": "c"}})
    assert r.status_code == 202
    await until(client, execution_id, lambda b: bool(participant.calls("/refund")) and waiting()(b))
    assert (await until(client, execution_id, lambda b: True))["status"] == "compensating"
    refund = callback_path(participant, path="/refund")
    r = await client.post(refund, json={"outcome": "succeeded", "body": {"refund": "r1"}})
    assert r.status_code == 202, r.text
    body = await until(client, execution_id, ended)
    assert body["status"] == "compensated" and step(body, "charge")["status"] == "compensated"


async def test_bad_callback_bodies_are_413_or_422_and_change_nothing(
    client: Client, participant: ScriptedParticipant
) -> None:
    execution_id = await setup(client, participant)
    await until(client, execution_id, waiting())
    path = callback_path(participant)
    before = len(await events(client, execution_id))
    for bad in ({"outcome": "maybe"}, {"body": {}}, {"outcome": "succeeded", "extra": 1}, [1, 2]):
        r = await client.post(path, json=bad)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), (bad, r.text)
    r = await client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.post(path, json={"outcome": "succeeded", "body": "x" * (70 * 1024)})  # over 64 KiB
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)
    assert len(await events(client, execution_id)) == before
    assert step((await client.get(f"/v1/executions/{execution_id}")).json(), "charge")["status"] == "waiting"


@pytest.mark.parametrize("tamper", ["flip", "truncate", "garbage"])
async def test_forged_tokens_are_404_like_unknown_ones(
    client: Client, participant: ScriptedParticipant, tamper: str
) -> None:
    execution_id = await setup(client, participant)
    await until(client, execution_id, waiting())
    path = callback_path(participant)
    token = path.rsplit("/", 1)[1]
    forged = {
        "flip": token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1],
        "truncate": token[:-4],
        "garbage": "%%%" + token,
    }[tamper]
    r = await client.post("/v1/callbacks/" + forged, json={"outcome": "succeeded", "body": {}})
    assert r.status_code == 404 and r.json()["code"] == "callback_not_found"
    assert step((await client.get(f"/v1/executions/{execution_id}")).json(), "charge")["status"] == "waiting"
