"""The operator commands of `saga`, run in-process (`main([...])` in a worker thread) against the
real API: human output, `--json` parsed back, and the exit codes scripts rely on."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from coordinator.cli import main
from tests.client.conftest import Coordinator
from tests.e2e.harness import ROOT, free_port
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Saga:
    """`saga ...` against one coordinator; each call returns (exit code, stdout, stderr)."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, "--url", self.url])
        out, err = self.capsys.readouterr()
        return code, out, err

    async def before(self, *argv: str) -> tuple[int, str, str]:
        """`saga --url URL ...`: the global flags before the subcommand."""
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--url", self.url, *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *argv: str) -> Any:
        code, out, err = await self(*argv, "--json")
        assert code in (0, 1), err
        return json.loads(out)


@pytest.fixture
def saga(coordinator: Coordinator, capsys: pytest.CaptureFixture[str]) -> Saga:
    return Saga(coordinator.url, capsys)


@pytest.fixture
def definition(
    tmp_path: Path, participant: ScriptedParticipant, saga_name: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The test's saga as a YAML file whose participant URL comes from `${PARTICIPANT_URL}`."""
    document = three_steps("${PARTICIPANT_URL}", name=saga_name)
    path = tmp_path / f"{saga_name}.yaml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("PARTICIPANT_URL", participant.url)
    return path


async def test_register_files_and_folders(saga: Saga, definition: Path, tmp_path: Path) -> None:
    code, out, _ = await saga("register", str(definition))
    assert code == 0 and f"registered {definition.stem} v1" in out
    results = await saga.json("register", str(tmp_path))  # a folder: every definition in it
    assert results == [{"file": str(definition), "name": definition.stem, "version": 1, "created": False}]

    bad = tmp_path / "bad" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("name: Bad Name\nsteps:\n  - name: a\n    action: {method: POST, url: 'not a url'}\n")
    code, out, err = await saga("register", str(bad))
    assert code == 2 and out == ""
    assert "steps[0].action.url" in err and "definition_invalid" in err
    code, out, _ = await saga("register", str(bad), "--json")
    assert code == 2 and json.loads(out)[0]["error"]["code"] == "definition_invalid"

    unset = tmp_path / "bad" / "unset.yaml"
    unset.write_text("name: x\nsteps: [{name: a, action: {method: POST, url: '${NOT_SET_ANYWHERE}/a'}}]\n")
    code, _, err = await saga("register", str(unset))
    assert code == 2 and "NOT_SET_ANYWHERE" in err
    code, _, err = await saga("register", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such file" in err
    (tmp_path / "empty").mkdir()
    code, _, err = await saga("register", str(tmp_path / "empty"))
    assert code == 2 and "no definition files" in err

    clashing = tmp_path / "clashing"
    clashing.mkdir()
    document = yaml.safe_load(definition.read_text())
    (clashing / "a.yaml").write_text(yaml.safe_dump({**document, "version": 1, "description": "another body"}))
    (clashing / "b.yaml").write_text(yaml.safe_dump({**document, "name": f"{document['name']}-b"}))
    code, out, err = await saga("register", str(clashing), "--json")  # one refused, the next still sent
    assert code == 2 and "definition_conflict" in err
    assert [r.get("error", {}).get("code") or r["name"] for r in json.loads(out)] == [
        "definition_conflict",
        f"{document['name']}-b",
    ]


async def test_start_then_get_ls_and_events(saga: Saga, definition: Path, saga_name: str, tmp_path: Path) -> None:
    await saga("register", str(definition))
    code, out, _ = await saga("start", saga_name, "--input", '{"order": "o-1"}')
    assert code == 0 and out.startswith(f"started: {saga_name} v1 · execution ")
    execution_id = out.split("execution ")[1].split(" ")[0]

    input_file = tmp_path / "input.json"
    input_file.write_text('{"order": "o-2"}')
    started = await saga.json("start", saga_name, "--input", f"@{input_file}", "--wait")
    assert started["status"] == "completed" and started["input"] == {"order": "o-2"}

    code, out, _ = await saga("get", execution_id, "--wait")
    assert code == 0 and "completed" in out and "step" in out and "attempts" in out
    got = await saga.json("get", execution_id)
    assert got["id"] == execution_id and [s["status"] for s in got["steps"]] == ["succeeded"] * 3

    listed = await saga.json("ls", "--saga", saga_name)
    assert [e["id"] for e in listed] == [started["id"], execution_id]
    code, out, _ = await saga("ls", "--saga", saga_name, "--limit", "1")
    assert code == 0 and started["id"] in out and execution_id not in out and "more" in out
    assert await saga.json("ls", "--saga", saga_name, "--status", "compensated") == []

    events = await saga.json("events", execution_id)
    assert events[0]["type"] == "execution_started" and events[-1]["type"] == "execution_completed"
    code, out, _ = await saga("events", execution_id)
    assert code == 0 and "attempt_succeeded" in out and "→ a" in out


async def test_start_wait_prints_the_timeline_and_exits_1_when_rolled_back(
    saga: Saga, definition: Path, participant: ScriptedParticipant, saga_name: str
) -> None:
    await saga("register", str(definition))
    participant.on("/b", Reply(status=402))
    code, out, _ = await saga("start", saga_name, "--input", '{"order": "o-1"}', "--wait", "--no-color")
    assert code == 1
    assert "compensated" in out and "↩ a" in out and "rollback" in out
    execution_id = out.split("execution ")[1].split(" ")[0]
    code, out, _ = await saga("get", execution_id)
    assert code == 1 and "error: b:" in out
    assert (await saga.json("get", execution_id))["error"]["step"] == "b"


async def test_idempotency_key_stdin_input_and_input_mistakes(
    saga: Saga, definition: Path, saga_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await saga("register", str(definition))
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"order": "o-1"}'))
    first = await saga.json("start", saga_name, "--input", "@-", "--idempotency-key", f"{saga_name}-k")
    code, out, _ = await saga("start", saga_name, "--input", '{"order": "o-1"}', "--idempotency-key", f"{saga_name}-k")
    assert code == 0 and "already started" in out and first["id"] in out
    code, _, err = await saga("start", saga_name, "--input", "{not json")
    assert code == 2 and "not JSON" in err
    code, _, err = await saga("start", saga_name, "--input", "@/no/such/file.json")
    assert code == 2 and "cannot read" in err
    code, _, err = await saga("start", saga_name, "--input", '{"order": 1}')
    assert code == 2 and "execution_input_invalid" in err and "input" in err
    code, _, err = await saga("start", "no-such-saga")
    assert code == 2 and "saga_not_found" in err
    code, _, err = await saga("get", "no-such-id")
    assert code == 2 and "execution_not_found" in err
    code, _, err = await saga("events", "no-such-id")
    assert code == 2 and "execution_not_found" in err
    code, _, err = await saga("get", "x", "--wait", "--timeout", "soon")
    assert code == 2 and "--timeout" in err


async def test_a_wait_that_runs_out_exits_1_with_the_execution_still_running(
    saga: Saga, definition: Path, participant: ScriptedParticipant, saga_name: str
) -> None:
    await saga("register", str(definition))
    participant.on("/b", Reply(status=201, delay_s=0.8))
    started = await saga.json("start", saga_name, "--input", '{"order": "o"}', "--wait", "--timeout", "100ms")
    assert started["status"] == "running"
    code, out, _ = await saga("get", started["id"], "--wait", "--timeout", "0.1", "--json")
    assert code == 1 and json.loads(out)["status"] == "running"
    code, out, _ = await saga("get", started["id"])
    assert code == 0  # running, and nobody asked to wait: fine
    code, out, _ = await saga("watch", started["id"])
    assert code == 0 and "completed" in out and "→ c" in out


async def test_watch_streams_json_lines_until_the_end(
    saga: Saga, definition: Path, participant: ScriptedParticipant, saga_name: str
) -> None:
    await saga("register", str(definition))
    participant.on("/c", Reply(status=201, delay_s=0.6), Reply(status=409))
    started = await saga.json("start", saga_name, "--input", '{"order": "o"}')
    code, out, _ = await saga("watch", started["id"], "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["execution"]["status"] == "completed"
    seqs = [line["event"]["seq"] for line in lines[:-1]]
    assert seqs == sorted(set(seqs)) and lines[-2]["event"]["type"] == "execution_completed"

    rolled_back = await saga.json("start", saga_name, "--input", '{"order": "o2"}', "--wait")
    code, out, _ = await saga("watch", rolled_back["id"])
    assert code == 1 and "compensated" in out
    code, out, _ = await saga("watch", rolled_back["id"], "--timeout", "1s", "--json")
    assert code == 1 and json.loads(out.splitlines()[-1])["execution"]["status"] == "compensated"


async def test_cancel_and_retry(saga: Saga, definition: Path, participant: ScriptedParticipant, saga_name: str) -> None:
    await saga("register", str(definition))
    participant.on("/b", Reply(status=201, delay_s=0.3))
    participant.on("/a/undo", Reply(status=500))
    started = await saga.json("start", saga_name, "--input", '{"order": "o"}')
    code, out, _ = await saga("cancel", started["id"])
    assert code == 0 and "cancel requested" in out
    failed = await saga.json("get", started["id"], "--wait", "--timeout", "10s")
    assert failed["status"] == "failed"
    code, out, _ = await saga("get", started["id"])
    assert code == 1 and f"saga retry {started['id']}" in out
    code, _, err = await saga("cancel", started["id"])
    assert code == 2 and "execution_state_conflict" in err

    participant.script["/a/undo"].clear()
    retried = await saga.json("retry", started["id"])
    assert retried["id"] == started["id"]
    code, out, _ = await saga("watch", started["id"])
    assert code == 1 and "compensated" in out  # rolled back in the end: still not a completion
    code, _, err = await saga("retry", started["id"])
    assert code == 2 and "execution_state_conflict" in err


async def test_an_unreachable_or_failing_coordinator_exits_3(
    capsys: pytest.CaptureFixture[str], participant: ScriptedParticipant
) -> None:
    code, _, err = await Saga(f"http://127.0.0.1:{free_port()}", capsys)("ls")
    assert code == 3 and "failed" in err
    busy = {"title": "Database unavailable", "status": 503, "detail": "db down", "code": "store_unavailable"}
    participant.on("/v1/executions/x", Reply(status=503, body=busy, headers={"Retry-After": "0"}))
    code, out, err = await Saga(participant.url, capsys)("get", "x", "--json")
    assert code == 3 and out == "" and "db down" in err and "store_unavailable" in err
    assert len(participant.calls("/v1/executions/x")) == 3  # a read is tried again twice
    code, _, err = await Saga(participant.url, capsys)("ls")  # answers {"ok": true}: not the coordinator
    assert code == 3 and "unexpected" in err


async def test_the_console_script_with_saga_url_from_the_environment(coordinator: Coordinator) -> None:
    env = {**os.environ, "SAGA_URL": coordinator.url, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coordinator.cli", "ls", "--json", "--limit", "1",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert isinstance(json.loads(out), list)
    usage = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coordinator.cli", "ls", "--limit", "0", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await usage.communicate()
    assert usage.returncode == 2 and b"--limit" in err
