"""Finding and acting in bulk at the command line, against a real coordinator: `ls --key`,
`ls --attention`, `retry`/`cancel` over a filter with `--dry-run`, and `saga purge`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from coordinator.cli import main
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.store import open_store
from tests.client.conftest import Coordinator
from tests.client.test_cli import Saga
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def saga(coordinator: Coordinator, capsys: pytest.CaptureFixture[str]) -> Saga:
    return Saga(coordinator.url, capsys)


async def _register(saga: Saga, participant: ScriptedParticipant, tmp_path: Path, name: str) -> None:
    doc = three_steps(participant.url, name=name, compensation_retry={"max_attempts": 1, "initial_interval": "10ms"})
    doc["key"] = "{{ input.order }}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, _, err = await saga("register", str(path))
    assert code == 0, err


async def test_find_by_key_and_by_attention_then_retry_them_all(
    saga: Saga, participant: ScriptedParticipant, saga_name: str, tmp_path: Path
) -> None:
    await _register(saga, participant, tmp_path, saga_name)
    participant.on("/c", Reply(status=400))
    participant.on("/a/undo", Reply(status=500))
    broken = [
        (await saga.json("start", saga_name, "--input", f'{{"order": "ord-{i}"}}', "--wait"))["id"] for i in range(3)
    ]

    code, out, _ = await saga("ls", "--saga", saga_name, "--key", "ord-1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "saga", "key", "status"]
    assert len(lines) == 3 and lines[1].startswith(broken[1]) and " ord-1 " in lines[1]
    assert lines[2] == "1 execution"
    code, out, _ = await saga("get", broken[1])
    assert f"execution {broken[1]} · key ord-1 · failed · created " in out.splitlines()[0]

    code, out, _ = await saga("ls", "--saga", saga_name, "--attention")
    assert code == 0 and sorted(line.split()[0] for line in out.splitlines()[1:-1]) == sorted(broken)
    assert " failed " in out.splitlines()[1]

    code, out, _ = await saga("retry", "--saga", saga_name, "--status", "failed", "--dry-run")
    assert code == 0
    assert sorted(line.split()[0] for line in out.splitlines()[:-1]) == sorted(broken)
    assert out.splitlines()[-1] == "would retry: 3 accepted"
    assert all(e["status"] == "failed" for e in [await saga.json("get", i) for i in broken])  # nothing changed

    participant.script["/a/undo"].clear()  # the participant is fixed
    code, out, _ = await saga("retry", "--saga", saga_name, "--status", "failed")
    assert (code, out.splitlines()) == (0, ["retry: 3 accepted"])
    for execution_id in broken:
        assert (await saga.json("get", execution_id, "--wait"))["status"] == "compensated"

    code, out, _ = await saga("retry", "--saga", saga_name, "--status", "failed")
    assert (code, out.splitlines()) == (0, ["retry: nothing matched"])
    code, _, err = await saga("cancel")
    assert code == 2 and "needs an ID, or filter flags" in err


async def test_purge_deletes_what_finished_long_ago_and_keeps_failed(
    tmp_path: Path,
    participant: ScriptedParticipant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    runtime = await Runtime.open(Settings(database_url=url))
    await runtime.start()
    try:
        doc = three_steps(participant.url, name="old", compensation_retry={"max_attempts": 1})
        await runtime.service.register(doc)
        done, _ = await runtime.service.start("old", {"order": "o-1"})
        assert (await runtime.service.wait_terminal(done.state.id, 10)).state.status == "completed"
        participant.on("/c", Reply(status=400))
        participant.on("/a/undo", Reply(status=500))
        failed, _ = await runtime.service.start("old", {"order": "o-2"})
        assert (await runtime.service.wait_terminal(failed.state.id, 10)).state.status == "failed"
    finally:
        await runtime.close()
    monkeypatch.setenv("SAGA_ARCHIVE_DIR", str(tmp_path / "archive"))

    assert await asyncio.to_thread(main, ["purge", "--older-than", "1ms", "--dry-run", "--database-url", url]) == 0
    assert capsys.readouterr().out == "would delete 1 execution(s) that finished more than 1ms ago\n"
    assert await asyncio.to_thread(main, ["purge", "--older-than", "1ms", "--database-url", url]) == 0
    archive = tmp_path / "archive"
    assert capsys.readouterr().out == f"deleted 1 execution(s) that finished more than 1ms ago, archived in {archive}\n"
    (day,) = archive.glob("executions-*.jsonl")
    assert [json.loads(line)["execution"]["id"] for line in day.read_text().splitlines()] == [done.state.id]
    store = await open_store(url)
    try:
        assert [r.state.id for r in (await store.list_executions(limit=10)).items] == [failed.state.id]
    finally:
        await store.close()
    assert await asyncio.to_thread(main, ["purge", "--older-than", "nope", "--database-url", url]) == 2
    assert "not a duration" in capsys.readouterr().err
