"""The SRE's night (issue 13), at the command line against a real coordinator: a failed saga
diagnosed with `saga get` and `saga events` and resolved with `saga resolve`; a waiting retry
counted down; the cause of the trouble in `ls`; id prefixes; flags before the subcommand.

Screens are compared whole, with what changes from run to run (ids, ports, times) named."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.client.conftest import Coordinator
from tests.client.test_cli import Saga
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant

pytestmark = pytest.mark.asyncio(loop_scope="module")

_MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z")
_TRACE = re.compile(r"trace [0-9a-f]{32}")
_OFFSET = re.compile(r"\+\d+\.\d{3}s")
_TOOK = re.compile(r"\b\d+ ms\b")
_VOLATILE_HEADER = re.compile(r"(traceparent|date|X-Saga-Coordinator): .*")


def screen(text: str, execution_id: str, participant: ScriptedParticipant) -> list[str]:
    """`text`'s lines with the execution id, the participant's URL, times and trace id named."""
    text = text.replace(execution_id, "<id>").replace(participant.url, "<participant>")
    text = _TRACE.sub("trace <trace>", _MOMENT.sub("<time>", text))
    text = _VOLATILE_HEADER.sub(lambda m: f"{m[1]}: <{m[1].lower().removeprefix('x-saga-')}>", text)
    return _TOOK.sub("<n> ms", _OFFSET.sub("+<t>", text)).splitlines()


@pytest.fixture
def saga(coordinator: Coordinator, capsys: pytest.CaptureFixture[str]) -> Saga:
    return Saga(coordinator.url, capsys)


def write_definition(tmp_path: Path, participant: ScriptedParticipant, name: str, **options: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(three_steps(participant.url, name=name, **options)))
    return path


async def failed_at_a(saga: Saga, participant: ScriptedParticipant, tmp_path: Path, name: str) -> str:
    """c is refused, b undone, a's refund keeps failing: `failed`, waiting for an operator."""
    participant.on("/a", Reply(status=201, body={"charge_id": "ch_1"}))
    participant.on("/c", Reply(status=422, body={"errors": [{"field": "to", "msg": "mailbox does not exist"}]}))
    participant.on("/a/undo", Reply(status=500, body={"error": {"code": "psp_down", "message": "PSP unavailable"}}))
    definition = write_definition(
        tmp_path, participant, name, compensation_retry={"max_attempts": 2, "initial_interval": "10ms"}
    )
    code, _, err = await saga("register", str(definition))
    assert code == 0, err
    started = await saga.json("start", name, "--input", '{"order": "o-7"}', "--wait")
    assert started["status"] == "failed"
    return str(started["id"])


async def test_a_failed_saga_is_diagnosed_and_resolved(
    saga: Saga, participant: ScriptedParticipant, saga_name: str, tmp_path: Path
) -> None:
    eid = await failed_at_a(saga, participant, tmp_path, saga_name)
    code, out, _ = await saga("get", eid[:8])  # a unique prefix is enough
    assert code == 1
    assert screen(out, eid, participant) == [
        f"{saga_name} v1 · execution <id> · failed · created <time> · trace <trace>",
        "error: a: compensation of step 'a' failed after 2 attempt(s): HTTP 500: psp_down: PSP unavailable",
        "",
        "step  status                                 attempts  undo attempts  last call",
        "a     compensation_failed (still in effect)         1              2  ↩ POST <participant>/a/undo -> 500",
        "      compensation attempt 2: HTTP 500: psp_down: PSP unavailable",
        '      answer: 201 {"charge_id": "ch_1"}',
        "b     compensated                                   1              1  ↩ POST <participant>/b/undo -> 200",
        '      answer: 200 {"ok": true}',
        "c     failed                                        1              0  → POST <participant>/c -> 422",
        "      attempt 1: HTTP 422: to: mailbox does not exist",
        "",
        "needs an operator: the compensation of a failed; its effect is still in place",
        "  fix the cause, then:      saga retry <id>",
        '  or undo a by hand, then:  saga resolve <id> --step a --note "what you did"',
    ]
    code, out, _ = await saga("events", eid, "--full")
    lines = screen(out, eid, participant)
    refused = lines.index("  7  <time>  attempt_failed     → c         1   422  <n> ms  HTTP 422: to: mailbox does not exist")
    following = next(i for i, line in enumerate(lines) if line.startswith("  8  "))
    assert lines[refused:following] == [
        lines[refused],
        "    request:",
        "      POST <participant>/c",
        "      Idempotency-Key: <id>:c:action",
        "      X-Saga-Execution-Id: <id>",
        "      X-Saga-Step: c",
        "      X-Saga-Coordinator: <coordinator>",
        "      traceparent: <traceparent>",
        "      User-Agent: saga-coordinator/0.1.0",
        "      content-type: application/json",
        "",
        "      {",
        '        "order": "o-7",',
        '        "step": "c"',
        "      }",
        "    response:",
        "      422",
        "      date: <date>",
        "      server: uvicorn",
        "      content-type: application/json",
        "      content-length: 58",
        "",
        "      {",
        '        "errors": [',
        "          {",
        '            "field": "to",',
        '            "msg": "mailbox does not exist"',
        "          }",
        "        ]",
        "      }",
    ]
    assert (await saga.json("events", eid))[-1]["type"] == "execution_failed"  # --json stays the API's

    code, out, _ = await saga("resolve", eid, "--step", "a", "--note", "refunded ch_1 in the PSP dashboard")
    assert code == 0
    resolved = screen(out, eid, participant)
    # a was the first step: with its compensation done by hand, nothing is left to roll back.
    assert resolved == [
        "resolved: the compensation of a was done by hand; the rollback carries on",
        f"{saga_name} v1 · execution <id> · compensated · created <time> · trace <trace>",
        "error: a: compensation of step 'a' failed after 2 attempt(s): HTTP 500: psp_down: PSP unavailable",
        "",
        "step  status       attempts  undo attempts  last call",
        "a     compensated         1              2  ↩ POST <participant>/a/undo -> 500",
        '      answer: 201 {"charge_id": "ch_1"}',
        "      undone by hand at <time>: refunded ch_1 in the PSP dashboard",
        "b     compensated         1              1  ↩ POST <participant>/b/undo -> 200",
        '      answer: 200 {"ok": true}',
        "c     failed              1              0  → POST <participant>/c -> 422",
        "      attempt 1: HTTP 422: to: mailbox does not exist",
    ]
    code, out, _ = await saga("events", eid)
    assert screen(out, eid, participant)[-2:] == [
        " 18  <time>  compensation_resolved  ↩ a                        refunded ch_1 in the PSP dashboard",
        " 19  <time>  execution_compensated",
    ]

    code, out, err = await saga("resolve", eid, "--step", "a", "--note", "again")
    assert (code, out) == (2, "")
    assert err.startswith("saga resolve: ") and err.rstrip().endswith("(execution_state_conflict)")
    assert "compensated" in err
