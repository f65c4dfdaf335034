"""The crash tests' saga (three undoable steps on the ledger participant) and its helpers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.checker import STEPS
from tests.e2e.harness import Coordinator


def definition(participant_url: str, *, busy: bool = False) -> str:
    """With `busy`, the body also carries `input.busy`: the op the participant answers 503 once."""
    extra = ', busy: "{{ input.busy }}"' if busy else ""
    steps = []
    for name in STEPS:
        steps.append(
            f"""
  - name: {name}
    action:
      method: POST
      url: "{participant_url}/op/{name}"
      body: {{fail: "{{{{ input.fail }}}}", order: "{{{{ input.order }}}}"{extra}}}
      timeout: 5s
    compensation:
      method: DELETE
      url: "{participant_url}/op/undo-{name}"
    retry: {{max_attempts: 3, initial_interval: 100ms, jitter: none}}"""
        )
    return "name: crash-test\ndescription: three steps, each undoable\nsteps:" + "".join(steps) + "\n"


def all_terminal(coordinator: Coordinator, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for eid in ids:
        r = httpx.get(f"{coordinator.url}/v1/executions/{eid}", params={"wait": "30s"}, timeout=40)
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def start_many(
    url: str, count: int, *, fail_every: int = 2, key_prefix: str | None = None, fail: str | None = None
) -> list[str]:
    """Start `count` executions (every `fail_every`-th fails at ship, or all fail at `fail`); return their ids."""
    ids = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(count):
            failing = fail or ("ship" if fail_every and i % fail_every else "none")
            headers = {"Idempotency-Key": f"{key_prefix}-{i}"} if key_prefix else {}
            r = client.post(
                "/v1/sagas/crash-test/executions", json={"input": {"fail": failing, "order": f"o{i}"}}, headers=headers
            )
            assert r.status_code in (200, 201), r.text
            ids.append(r.json()["id"])
    return ids
