"""A callback's body is a participant's answer by another road (SPEC 7.3, 8): it is capped at
`SAGA_MAX_RESPONSE_BYTES` (413 naming the limit) and its secrets are kept as `***`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from coordinator.settings import Settings
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_async_callbacks import callback_path, ended, events, until, waiting

LIMIT = 2048
SECRET = "psp-s3cr3t-value-4242"  # a test value


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SAGA_SECRET_PSP_KEY", SECRET)
    return replace(settings, max_response_bytes=LIMIT)


def _secret_saga(url: str) -> dict[str, Any]:
    return {
        "name": "pay",
        "steps": [
            {
                "name": "charge",
                "action": {
                    "method": "POST",
                    "url": f"{url}/charge",
                    "headers": {"Authorization": "Bearer {{ secrets.psp_key }}"},
                    "async": {"timeout": "30s"},
                },
                "compensation": {"method": "POST", "url": f"{url}/refund"},
                "retry": {"max_attempts": 1},
            },
            {
                "name": "ship",
                "action": {"method": "POST", "url": f"{url}/ship", "body": "{{ steps.charge.response.body }}"},
            },
        ],
    }


async def setup_with(client: httpx.AsyncClient, participant: ScriptedParticipant, definition: dict[str, Any]) -> str:
    participant.on("/charge", Reply(status=202, body={"accepted": True}))
    assert (await client.post("/v1/sagas", json=definition)).status_code == 201
    started = await client.post(f"/v1/sagas/{definition['name']}/executions", json={"input": {}})
    assert started.status_code == 201, started.text
    execution_id: str = started.json()["id"]
    return execution_id


async def test_a_callback_body_over_the_response_limit_is_refused_with_413_and_changes_nothing(
    client: httpx.AsyncClient, participant: ScriptedParticipant
) -> None:
    execution_id = await setup_with(client, participant, _secret_saga(participant.url))
    await until(client, execution_id, waiting())
    path = callback_path(participant)
    before = await events(client, execution_id)

    big = {"blob": "x" * LIMIT}  # over the limit once serialised, far under the API's body limit
    r = await client.post(path, json={"outcome": "succeeded", "body": big})
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "callback_body_too_large"
    assert "SAGA_MAX_RESPONSE_BYTES" in problem["detail"] and str(LIMIT) in problem["detail"]
    assert await events(client, execution_id) == before  # nothing recorded: the step still waits

    ok = await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "ch_1"}})
    assert ok.status_code == 202, ok.text
    assert (await until(client, execution_id, ended))["status"] == "completed"


async def test_secrets_and_the_token_echoed_in_a_callback_are_kept_as_stars(
    client: httpx.AsyncClient, participant: ScriptedParticipant
) -> None:
    execution_id = await setup_with(client, participant, _secret_saga(participant.url))
    await until(client, execution_id, waiting())
    path = callback_path(participant)
    token = path.removeprefix("/v1/callbacks/")
    assert participant.calls("/charge")[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent

    echoed = {"charge_id": "ch_1", "auth": f"Bearer {SECRET}", "reply_to": f"http://x{path}", token: "key"}
    r = await client.post(path, json={"outcome": "succeeded", "body": echoed})
    assert r.status_code == 202, r.text
    body = await until(client, execution_id, ended)
    assert body["status"] == "completed"

    shown = [
        (await client.get(f"/v1/executions/{execution_id}")).text,
        (await client.get(f"/v1/executions/{execution_id}/events")).text,
    ]
    for text in shown:
        assert SECRET not in text and token not in text
    # Later steps read the body as kept, as they read a participant's redacted answer.
    assert participant.calls("/ship")[0].body == {
        "charge_id": "ch_1",
        "auth": "Bearer ***",
        "reply_to": "http://x/v1/callbacks/***",
        "***": "key",
    }


async def test_a_failed_callback_s_error_text_is_redacted_too(
    client: httpx.AsyncClient, participant: ScriptedParticipant
) -> None:
    execution_id = await setup_with(client, participant, _secret_saga(participant.url))
    await until(client, execution_id, waiting())
    r = await client.post(
        callback_path(participant), json={"outcome": "failed", "error": f"card refused for key {SECRET}"}
    )
    assert r.status_code == 202, r.text
    body = await until(client, execution_id, ended)
    assert body["status"] == "compensated"
    text = (await client.get(f"/v1/executions/{execution_id}/events")).text
    assert SECRET not in text and "card refused for key ***" in text
