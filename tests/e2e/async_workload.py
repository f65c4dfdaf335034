"""The asynchronous fault tests' saga and helpers: reserve, an async charge, ship.

`charge` answers 202 (the ledger participant's `/async/` route) and waits for a callback that the
test sends; `ship` echoes the charge's callback body (`steps.charge.response.body.charge_id`), so
the ledger shows which callback the saga carried on with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.e2e.harness import Coordinator, wait_until

STEPS = ["reserve", "charge", "ship"]


def definition(participant_url: str, *, name: str, timeout: str = "30s", attempts: int = 1) -> str:
    return f"""name: {name}
description: reserve, an asynchronous charge, ship
steps:
  - name: reserve
    action: {{method: POST, url: "{participant_url}/op/reserve", body: {{order: "{{{{ input.order }}}}"}}}}
    compensation: {{method: DELETE, url: "{participant_url}/op/undo-reserve"}}
  - name: charge
    action:
      method: POST
      url: "{participant_url}/async/charge"
      body: {{order: "{{{{ input.order }}}}"}}
      timeout: 5s
      async: {{timeout: {timeout}}}
    retry: {{max_attempts: {attempts}, initial_interval: 100ms, jitter: none}}
    compensation: {{method: DELETE, url: "{participant_url}/op/undo-charge"}}
  - name: ship
    action:
      method: POST
      url: "{participant_url}/op/ship"
      body: {{order: "{{{{ input.order }}}}", charge: "{{{{ steps.charge.response.body.charge_id }}}}"}}
    compensation: {{method: DELETE, url: "{participant_url}/op/undo-ship"}}
"""


def start(url: str, saga: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(count):
            r = client.post(f"/v1/sagas/{saga}/executions", json={"input": {"order": f"o{i}"}})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    return ids


def charge_calls(ledger: dict[str, Any], execution_id: str) -> list[dict[str, Any]]:
    """The async charge requests the participant received for one execution, oldest first."""
    calls = [r for r in ledger["requests"] if r["execution"] == execution_id and r["op"] == "charge"]
    return sorted(calls, key=lambda r: r["start"])


def step_status(coordinator: Coordinator, execution_id: str, step: str = "charge") -> str:
    execution = httpx.get(f"{coordinator.url}/v1/executions/{execution_id}", timeout=10).json()
    return str(next(s["status"] for s in execution["steps"] if s["name"] == step))


def until_waiting(coordinator: Coordinator, ids: list[str], *, timeout: float = 30) -> None:
    wait_until(
        lambda: all(step_status(coordinator, eid) == "waiting" for eid in ids),
        timeout=timeout,
        what="every charge waiting for its callback",
        interval=0.1,
    )


@dataclass(frozen=True)
class Sent:
    """One callback the test sent, and how the coordinator answered it."""

    execution: str
    url: str
    outcome: str
    body: Any
    error: str | None
    status: int
    at: float


def callback(
    execution_id: str,
    url: str,
    outcome: str = "succeeded",
    *,
    body: Any = None,
    error: str | None = None,
    via: str | None = None,
) -> Sent:
    """POST the callback (to the replica at `via` instead of the URL's own host, when given)."""
    target = url
    if via is not None:
        parts = urlsplit(url)
        target = via.rstrip("/") + parts.path
    payload: dict[str, Any] = {"outcome": outcome}
    if body is not None:
        payload["body"] = body
    if error is not None:
        payload["error"] = error
    r = httpx.post(target, json=payload, timeout=10)
    return Sent(execution_id, url, outcome, body, error, r.status_code, time.time())


def events(coordinator: Coordinator, execution_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{coordinator.url}/v1/executions/{execution_id}/events", params={"limit": 500}, timeout=10)
    items: list[dict[str, Any]] = r.json()["items"]
    return items
