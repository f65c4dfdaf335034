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
_TOOK = re.compile(r" +\d+ ms\b")
_VOLATILE_HEADER = re.compile(r"(traceparent|date|X-Saga-Coordinator): .*")


def screen(text: str, execution_id: str, participant: ScriptedParticipant) -> list[str]:
    """`text`'s lines with the execution id, the participant's URL, times and trace id named."""
    text = text.replace(execution_id, "<id>").replace(participant.url, "<participant>")
    text = _TRACE.sub("trace <trace>", _MOMENT.sub("<time>", text))
    text = _VOLATILE_HEADER.sub(lambda m: f"{m[1]}: <{m[1].lower().removeprefix('x-saga-')}>", text)
    return _TOOK.sub("  <n> ms", _OFFSET.sub("+<t>", text)).splitlines()


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
    refused = lines.index(
        "  7  <time>  attempt_failed     → c         1   422  <n> ms  HTTP 422: to: mailbox does not exist"
    )
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
    # a was the first step: with its compensation done by hand, nothing is left to roll back. The
    # error says again why the saga was rolled back; the resolved failure is history.
    assert resolved == [
        "resolved: the compensation of a was done by hand; the rollback carries on",
        f"{saga_name} v1 · execution <id> · compensated · created <time> · trace <trace>",
        "error: c: attempt 1: HTTP 422: to: mailbox does not exist",
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
    # The columns' widths follow the longest duration in the table, which varies run to run: the
    # words and their order are compared, not the padding.
    assert [" ".join(line.split()) for line in screen(out, eid, participant)[-2:]] == [
        "18 <time> compensation_resolved ↩ a refunded ch_1 in the PSP dashboard",
        "19 <time> execution_compensated",
    ]

    code, out, err = await saga("resolve", eid, "--step", "a", "--note", "again")
    assert (code, out) == (2, "")
    assert err.startswith("saga resolve: ") and err.rstrip().endswith("(execution_state_conflict)")
    assert "compensated" in err


async def test_a_waiting_retry_is_counted_down_live(
    saga: Saga, participant: ScriptedParticipant, saga_name: str, tmp_path: Path
) -> None:
    participant.on("/b", Reply(status=503, body={"detail": "warming up"}), Reply(status=200))
    retry = {"max_attempts": 3, "initial_interval": "30s", "jitter": "none"}
    await saga("register", str(write_definition(tmp_path, participant, saga_name, retry=retry)))
    # `start --wait` follows it as `watch` does; the flags may come before the subcommand.
    code, out, _ = await saga.before("--no-color", "start", saga_name, "--input", '{"order": "o"}', "--timeout", "1.5s")
    assert code == 1  # still running when the wait ran out
    eid = out.split("execution ")[1].split(" ")[0]
    due = [int(n) for n in re.findall(r"due in (\d+)s", out)]
    assert len(due) == 1 and 20 <= due[0] <= 29, out  # 30 s after attempt 1, counted from now
    lines = screen(out.replace(f"due in {due[0]}s", "due in <n>s"), eid, participant)
    so_far = re.fullmatch(rf"{saga_name} v1 · execution <id> · running · (\d+\.\d+)s so far · trace <trace>", lines[0])
    assert so_far is not None and float(so_far[1]) >= 1.4  # not frozen at the last event's time
    assert lines[1:] == [
        "   +<t>  ▶ started",
        "   +<t>  → a  attempt 1  200  <n> ms  ok",
        "   +<t>  → b  attempt 1  503  <n> ms  failed: HTTP 503: warming up · retry in 30.0 s",
        "running: waiting for attempt 2 of b, due in <n>s; attempt 1: HTTP 503: warming up",
        "to stop retrying and roll back:  saga cancel <id>",
    ]
    code, out, _ = await saga("get", eid)
    assert re.fullmatch(
        r"waiting for attempt 2 of b, due in 2\ds; attempt 1: HTTP 503: warming up", screen(out, eid, participant)[1]
    )
    assert screen(out, eid, participant)[-1] == "to stop retrying and roll back:  saga cancel <id>"
    code, _, _ = await saga("cancel", eid[:6])
    assert code == 0


async def test_ls_shows_the_failing_compensation_not_the_forward_cause(
    saga: Saga, participant: ScriptedParticipant, saga_name: str, tmp_path: Path
) -> None:
    participant.on("/c", Reply(status=422, body={"detail": "mailbox does not exist"}))
    reason = "the payment service provider is down for maintenance until 04:00 UTC, try later"
    participant.on("/a/undo", Reply(status=500, body={"error": {"code": "psp_down", "message": reason}}))
    slow = {"max_attempts": 3, "initial_interval": "30s", "jitter": "none"}
    await saga("register", str(write_definition(tmp_path, participant, saga_name, compensation_retry=slow)))
    started = await saga.json("start", saga_name, "--input", '{"order": "o"}')
    eid = started["id"]
    for _ in range(200):  # until a's refund failed once and waits for its second attempt
        if (await saga.json("get", eid))["next_attempt"]:
            break
    code, out, _ = await saga("ls", "--saga", saga_name)
    assert code == 0
    saga_column = f"{saga_name} v1"
    # The start says where (step a, its compensation), the end says why; the middle goes.
    assert screen(out, eid, participant) == [
        f"{'id':<36}  {'saga':<{len(saga_column)}}  status        {'created':<24}  {'updated':<24}  error",
        f"<id>  {saga_column}  compensating  <time>  <time>  "
        "a: compensation attempt 1: HT…provider is down for maintenance until 04:00 UTC, try later",
        "1 execution",
    ]
    assert json.loads((await saga("ls", "--saga", saga_name, "--json"))[1])[0]["id"] == eid  # --json: the API's
    code, out, err = await saga("ls", "--saga", "nosuch")
    assert (code, out) == (2, "")
    assert err == "saga ls: no saga named 'nosuch' is registered (saga_not_found)\n"
    await saga("cancel", eid)


async def test_register_prints_each_problem_once(saga: Saga, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\nsteps:\n  - name: a\n    action: {method: POST, url: 'not a url'}\n")
    code, out, err = await saga("register", str(bad))
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0] == f"saga register {bad}: Invalid saga definition (definition_invalid)"
    assert [line.split(":")[0] for line in lines[1:]] == ["  name", "  steps[0].action.url"]


def _listed(eid: str) -> dict[str, Any]:
    return {"id": eid, "saga": "trip", "version": 1, "status": "failed", "created_at": "2026-11-27T05:40:44.123Z"}


async def test_an_id_prefix_resolves_when_unique_and_is_refused_when_not(
    saga: Saga, participant: ScriptedParticipant, capsys: pytest.CaptureFixture[str], saga_name: str, tmp_path: Path
) -> None:
    # The scripted participant plays a coordinator: 404 for the prefix as an id, then the list.
    fake = Saga(participant.url, capsys)
    missing = {"title": "Not found", "status": 404, "detail": "no execution 3e556c", "code": "execution_not_found"}
    one, other = "3e556cef-7d0e-4c36-9a43-5d1f0c2b7e11", "3e556c01-0000-4c36-9a43-5d1f0c2b7e11"
    participant.on("/v1/executions/3e556c", Reply(status=404, body=missing))
    participant.on("/v1/executions", Reply(status=200, body={"items": [_listed(one), _listed(other)]}))
    code, out, err = await fake("get", "3e556c")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "saga get: no execution has the id '3e556c', and it matches several executions (give more of the id):",
        f"  {one}  trip v1  failed  created 2026-11-27 05:40:44.123Z",
        f"  {other}  trip v1  failed  created 2026-11-27 05:40:44.123Z",
    ]
    assert participant.calls("/v1/executions")[0].path == "/v1/executions"
    participant.on("/v1/executions/3e55/retry", Reply(status=404, body=missing))
    code, out, err = await fake("retry", "3e55")
    assert code == 2 and err.splitlines()[0] == (
        "saga retry: no execution has the id '3e55', and it is too short for an id prefix (give at least 6 characters):"
    )

    # Against the real coordinator: the one execution whose id starts with it.
    await saga("register", str(write_definition(tmp_path, participant, saga_name)))
    started = await saga.json("start", saga_name, "--input", '{"order": "o"}', "--wait")
    for command in ("get", "events", "watch"):
        code, out, _ = await saga(command, started["id"][:8], "--json")
        assert code == 0 and started["id"] in out, command
