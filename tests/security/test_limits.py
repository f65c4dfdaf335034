"""Limits on what the API accepts and on what the coordinator sends and keeps."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from coordinator.core import CallSpec, OutcomeKind, StatusPattern
from coordinator.executor import HttpStepExecutor, build_client
from coordinator.ports import OutboundRequest
from coordinator.settings import Settings
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.security.conftest import Served, one_step, serve_coordinator

CALL = CallSpec(method="POST", origin="http://127.0.0.1", path_template="/", success=(StatusPattern("2xx"),))


@pytest.fixture
async def served(db_url: str) -> AsyncIterator[Served]:
    async with serve_coordinator(Settings(database_url=db_url, max_body_bytes=64 * 1024)) as s:
        yield s


async def test_bodies_over_the_limit_are_413_with_or_without_a_length(served: Served) -> None:
    big = b'{"input": "' + b"x" * (70 * 1024) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    for path in ("/v1/sagas", "/v1/sagas/any/executions"):
        for content in (big, chunked()):
            r = await served.api.post(path, content=content, headers={"content-type": "application/json"})
            assert r.status_code == 413, (path, r.text)
            assert r.json()["code"] == "body_too_large"


def _with(change: dict[str, Any], where: str = "action") -> dict[str, Any]:
    doc = one_step("http://127.0.0.1:9/x")
    doc["steps"][0][where] = {**doc["steps"][0].get(where, {}), **change} if where == "action" else change
    return doc


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(steps=d["steps"] * 51), "steps"),
        (lambda d: d["steps"][0]["action"].update(headers={f"X-{i}": "v" for i in range(51)}), "headers"),
        (lambda d: d["steps"][0]["action"].update(headers={"X-Big": "v" * 8193}), "X-Big"),
        (lambda d: d["steps"][0]["action"].update(url="http://127.0.0.1:9/" + "a" * 2048), "url"),
        (lambda d: d["steps"][0]["action"].update(timeout="2h"), "timeout"),
        (lambda d: d["steps"][0]["retry"].update(max_attempts=101), "max_attempts"),
        (lambda d: d["steps"][0]["retry"].update(max_interval="9000h"), "max_interval"),
        (lambda d: d.update(deadline="9000h"), "deadline"),
        (lambda d: d.update(description="d" * 4001), "description"),
        (lambda d: d.update(name="n" * 101), "name"),
        (lambda d: d.update(version=2**31), "version"),
        (lambda d: d["steps"][0]["action"].update(headers={"X-A\r\nX-Injected": "1"}), "headers"),
        (lambda d: d["steps"][0]["action"].update(headers={"X-A": "1\r\nX-Injected: 1"}), "X-A"),
        (lambda d: d["steps"][0]["action"].update(headers={"X-A": "1\nX-Injected: {{ input.x }}"}), "X-A"),
        (lambda d: d["steps"][0]["action"].update(headers={"Host": "evil.example"}), "Host"),
        (lambda d: d["steps"][0]["action"].update(headers={"Transfer-Encoding": "chunked"}), "Transfer-Encoding"),
        (lambda d: d["steps"][0]["action"].update(headers={"Idempotency-Key": "mine"}), "Idempotency-Key"),
        (lambda d: d["steps"][0]["action"].update(body=_nested(70)), "$"),
    ],
)
async def test_definition_caps_are_422_at_their_path(served: Served, mutate: Any, path: str) -> None:
    doc = one_step("http://127.0.0.1:9/x")
    mutate(doc)
    r = await served.api.post("/v1/sagas", json=doc)
    assert r.status_code == 422, r.text
    assert any(path in e["path"] or path == "$" for e in r.json()["errors"]), r.json()


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_idempotency_keys_and_inputs_are_bounded(served: Served, participant: ScriptedParticipant) -> None:
    assert (await served.api.post("/v1/sagas", json=one_step(f"{participant.url}/ok"))).status_code == 201
    start = "/v1/sagas/probe/executions"
    for key in ("k" * 256, "has space", "tab\there", ""):
        r = await served.api.post(start, json={"input": {}}, headers={"Idempotency-Key": key})
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "headers.Idempotency-Key", (key, r.text)
    r = await served.api.post(start, json={"input": {}}, headers=[(b"Idempotency-Key", "é".encode("latin-1"))])
    assert r.status_code == 422
    assert (await served.api.post(start, json={"input": {}}, headers={"Idempotency-Key": "k" * 255})).status_code == 201
    r = await served.api.post(start, json={"input": _nested(65)})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "input"
    deep = '{"input": ' + "[" * 20000 + "]" * 20000 + "}"
    r = await served.api.post(start, content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    for version in (0, -1, 2**31, 2**70):
        r = await served.api.post(start, json={"input": {}, "version": version})
        assert r.status_code == 422, (version, r.text)
    for path in ("/v1/sagas/probe/versions/0", f"/v1/sagas/probe/versions/{2**70}"):
        assert (await served.api.get(path)).status_code == 400
    assert (await served.api.get("/v1/executions/x/events", params={"cursor": str(2**70)})).status_code == 422


def _outbound(url: str, headers: dict[str, str] | None = None) -> OutboundRequest:
    return OutboundRequest(method="POST", url=url, headers=headers or {}, timeout_ms=2000, call=CALL)


async def test_a_long_response_is_cut_with_its_size_and_hash_kept(participant: ScriptedParticipant) -> None:
    body = "z" * 50_000
    participant.on("/long", Reply(body=body))
    participant.on("/endless", Reply(body="e" * 100_000))
    client = build_client(max_connections=4)
    try:
        executor = HttpStepExecutor(client, max_response_bytes=1024)
        outcome = await executor.send(_outbound(f"{participant.url}/long"))
        assert outcome.kind is OutcomeKind.SUCCESS and outcome.response is not None
        cut = outcome.response.truncated
        raw = body.encode()  # a str body goes out as text/plain
        assert cut is not None and cut.size_bytes == len(raw) and cut.kept_bytes == 1024
        assert cut.sha256 == hashlib.sha256(raw).hexdigest()
        assert isinstance(outcome.response.body, str) and len(outcome.response.body) == 1024
        # Past 64 limits the rest is not read: the size is a lower bound and there is no hash.
        endless = await executor.send(_outbound(f"{participant.url}/endless"))
        assert endless.response is not None and endless.response.truncated is not None
        assert endless.response.truncated.sha256 is None and endless.response.truncated.size_bytes > 64 * 1024
        short = await executor.send(_outbound(f"{participant.url}/short"))
        assert short.response is not None and short.response.truncated is None
    finally:
        await client.aclose()


async def test_the_stored_snapshot_records_the_cut(db_url: str, participant: ScriptedParticipant) -> None:
    participant.on("/long", Reply(body={"blob": "b" * 20_000}))
    async with serve_coordinator(Settings(database_url=db_url, max_response_bytes=1024)) as s:
        assert (await s.api.post("/v1/sagas", json=one_step(f"{participant.url}/long"))).status_code == 201
        r = await s.api.post("/v1/sagas/probe/executions", json={"input": {}}, params={"wait": "10s"})
        assert r.json()["status"] == "completed"
    rows = sqlite3.connect(db_url.removeprefix("sqlite:///")).execute("SELECT response FROM execution_steps").fetchall()
    stored = [row[0] for row in rows if row[0]]
    assert len(stored) == 1 and len(stored[0]) < 2048
    assert '"truncated":{"size_bytes":20' in stored[0] and '"sha256":"' in stored[0], stored[0][-300:]


@pytest.mark.parametrize(
    ("url", "headers", "why"),
    [
        ("http://127.0.0.1:9/" + "p" * 9000, {}, "rendered URL"),
        ("http://127.0.0.1:9/", {"X-Big": "v" * 70_000}, "headers take"),
        ("http://127.0.0.1:9/", {f"X-{i}": "v" for i in range(101)}, "headers"),
        ("http://127.0.0.1:9/", {"X-Ctl": "a\x01b"}, "control character"),
        ("http://127.0.0.1:9/", {"X-Crlf": "a\r\nInjected: 1"}, "line break"),
        ("http://127.0.0.1:9/", {"Bad Name": "v"}, "header name"),
    ],
)
async def test_rendered_requests_over_the_limits_are_not_sent(url: str, headers: dict[str, str], why: str) -> None:
    client = build_client(max_connections=4)
    try:
        outcome = await HttpStepExecutor(client).send(_outbound(url, headers))
    finally:
        await client.aclose()
    assert outcome.kind is OutcomeKind.INVALID and why in (outcome.error or ""), outcome
