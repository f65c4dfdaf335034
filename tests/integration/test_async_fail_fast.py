"""Fail fast (SPEC 7.1) with an asynchronous member (7.3), through the API on the real stores: a
member's failure ends its sibling's wait as a cancel does."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_async_callbacks import callback_path, ended, events, step, until, waiting


def _saga(url: str) -> dict[str, Any]:
    def member(name: str, **action: Any) -> dict[str, Any]:
        return {
            "name": name,
            "action": {"method": "POST", "url": f"{url}/{name}", **action},
            "compensation": {"method": "POST", "url": f"{url}/{name}/undo"},
            "retry": {"max_attempts": 1},
        }

    return {
        "name": "pay-and-book",
        "steps": [
            member("reserve"),
            {
                "parallel": {
                    "name": "both",
                    "steps": [member("charge", **{"async": {"timeout": "1h"}}), member("book")],
                }
            },
        ],
    }


async def test_a_sibling_s_failure_ends_the_wait_compensates_it_and_a_late_callback_gets_404(
    client: httpx.AsyncClient, participant: ScriptedParticipant
) -> None:
    participant.on("/charge", Reply(status=202))
    participant.on("/book", Reply(status=409, delay_s=1.0))  # after charge's 202 is recorded
    assert (await client.post("/v1/sagas", json=_saga(participant.url))).status_code == 201
    started = await client.post("/v1/sagas/pay-and-book/executions", json={"input": {}})
    assert started.status_code == 201, started.text
    execution_id = started.json()["id"]
    await until(client, execution_id, waiting())

    body = await until(client, execution_id, ended, timeout_s=20)  # not an hour: the wait ended
    assert body["status"] == "compensated", body
    assert step(body, "charge")["status"] == "compensated"
    assert len(participant.calls("/charge/undo")) == 1  # its outcome was unknown: undone
    assert participant.calls("/book/undo") == []  # a 409 took no effect
    assert len(participant.calls("/reserve/undo")) == 1
    stopped = [e for e in await events(client, execution_id) if e["type"] == "step_failed" and e["step"] == "charge"]
    assert stopped and "while waiting for the callback" in stopped[0]["error"]

    late = await client.post(callback_path(participant), json={"outcome": "succeeded", "body": {}})
    assert late.status_code == 404, late.text
