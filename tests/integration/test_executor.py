"""The httpx executor against real sockets: every row of the classification table."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from coordinator.core import CallSpec, OutcomeKind, StatusPattern
from coordinator.executor import HttpStepExecutor, TargetPolicy, build_client
from coordinator.ports import OutboundRequest
from tests.e2e.harness import free_port
from tests.integration.scripted_participant import Reply, ScriptedParticipant

CALL = CallSpec(
    method="POST",
    origin="http://127.0.0.1",
    path_template="/",
    success=(StatusPattern("2xx"),),
    retry_on_status=(StatusPattern("429"), StatusPattern("5xx")),
)


@pytest.fixture
async def executor() -> AsyncIterator[HttpStepExecutor]:
    client = build_client(max_connections=10)
    try:
        yield HttpStepExecutor(client, max_response_bytes=2048)
    finally:
        await client.aclose()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A TCP server speaking whatever `handler` writes (for answers no HTTP framework would give); its URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def request(url: str, *, timeout_ms: int = 2000, compensation: bool = False, call: CallSpec = CALL) -> OutboundRequest:
    return OutboundRequest(
        method="POST",
        url=url,
        headers={"X-Test": "1"},
        body={"a": 1},
        timeout_ms=timeout_ms,
        call=call,
        is_compensation=compensation,
    )


async def test_success_keeps_the_response_for_templates(
    executor: HttpStepExecutor, participant: ScriptedParticipant
) -> None:
    participant.on("/ok", Reply(status=201, body={"id": "r-1"}))
    outcome = await executor.send(request(f"{participant.url}/ok"))
    assert outcome.kind is OutcomeKind.SUCCESS and outcome.status_code == 201
    assert outcome.response is not None and outcome.response.body == {"id": "r-1"}
    assert participant.calls("/ok")[0].body == {"a": 1}
    assert participant.calls("/ok")[0].headers["content-type"] == "application/json"


async def test_an_attempt_out_of_time_before_it_is_sent_is_not_sent(
    executor: HttpStepExecutor, participant: ScriptedParticipant
) -> None:
    """Its deadline counts from the write-ahead: a commit that took all of it leaves nothing to send."""
    participant.on("/late", Reply(status=201, body={}))
    outcome = await executor.send(request(f"{participant.url}/late", timeout_ms=0))
    assert outcome.kind is OutcomeKind.RETRYABLE and not outcome.effect_unknown
    assert outcome.error is not None and "deadline passed before it could be sent" in outcome.error
    assert participant.calls("/late") == []


async def test_status_patterns_decide_retryable_or_fatal(
    executor: HttpStepExecutor, participant: ScriptedParticipant
) -> None:
    participant.on("/busy", Reply(status=503, headers={"Retry-After": "7"}, body={"detail": "busy"}))
    participant.on("/no", Reply(status=402, body={"detail": "card declined"}))
    busy = await executor.send(request(f"{participant.url}/busy"))
    assert busy.kind is OutcomeKind.RETRYABLE and busy.retry_after_ms == 7000 and not busy.effect_unknown
    assert busy.error == "HTTP 503: busy"
    no = await executor.send(request(f"{participant.url}/no"))
    assert no.kind is OutcomeKind.FATAL and no.error == "HTTP 402: card declined"
    # a compensation retries anything but success
    assert (await executor.send(request(f"{participant.url}/no", compensation=True))).kind is OutcomeKind.RETRYABLE


async def test_redirects_are_not_followed(executor: HttpStepExecutor, participant: ScriptedParticipant) -> None:
    participant.on("/moved", Reply(status=302, headers={"Location": f"{participant.url}/elsewhere"}))
    outcome = await executor.send(request(f"{participant.url}/moved"))
    assert outcome.kind is OutcomeKind.FATAL and outcome.status_code == 302
    assert not participant.calls("/elsewhere")


async def test_connection_refused_is_retryable_and_had_no_effect(executor: HttpStepExecutor) -> None:
    port = free_port()
    outcome = await executor.send(request(f"http://127.0.0.1:{port}/x"))
    assert outcome.kind is OutcomeKind.RETRYABLE and not outcome.effect_unknown
    assert outcome.error == f"connection refused by 127.0.0.1:{port}"  # the wording: test_network_errors


async def test_timeout_after_sending_is_an_unknown_outcome(
    executor: HttpStepExecutor, participant: ScriptedParticipant
) -> None:
    participant.on("/slow", Reply(delay_s=2))
    outcome = await executor.send(request(f"{participant.url}/slow", timeout_ms=200))
    assert outcome.kind is OutcomeKind.RETRYABLE and outcome.effect_unknown
    assert outcome.duration_ms is not None and outcome.duration_ms < 1000


async def test_timeout_not_in_retry_on_is_fatal_but_still_unknown(
    executor: HttpStepExecutor, participant: ScriptedParticipant
) -> None:
    participant.on("/slow", Reply(delay_s=2))
    call = CallSpec(method="POST", origin="http://127.0.0.1", path_template="/", retry_on_timeout=False)
    outcome = await executor.send(request(f"{participant.url}/slow", timeout_ms=200, call=call))
    assert outcome.kind is OutcomeKind.FATAL and outcome.effect_unknown


async def test_connection_broken_after_sending_is_unknown(executor: HttpStepExecutor) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with raw_server(hang_up) as url:
        outcome = await executor.send(request(f"{url}/x"))
    assert outcome.kind is OutcomeKind.RETRYABLE and outcome.effect_unknown
    assert "outcome unknown" in (outcome.error or "")


async def test_an_idempotent_request_is_not_resent_when_the_connection_breaks(executor: HttpStepExecutor) -> None:
    received = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        await reader.readuntil(b"\r\n\r\n")
        received += 1
        writer.close()

    async with raw_server(hang_up) as url:
        delete = CallSpec(method="DELETE", origin="http://127.0.0.1", path_template="/")
        outcome = await executor.send(
            OutboundRequest(method="DELETE", url=f"{url}/x", headers={}, timeout_ms=2000, call=delete)
        )
    # One attempt, one send: a silent resend by the HTTP client would be an attempt nobody recorded.
    assert outcome.effect_unknown and received == 1


async def test_an_endless_body_is_streamed_and_its_connection_closed(executor: HttpStepExecutor) -> None:
    sent = 0
    closed = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"e" * 16384
        try:
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
        except ConnectionError:
            closed.set()
        finally:
            writer.close()

    async with raw_server(endless) as url:
        outcome = await executor.send(request(f"{url}/x"))
        await asyncio.wait_for(closed.wait(), 5)
    assert outcome.kind is OutcomeKind.SUCCESS and outcome.response is not None
    cut = outcome.response.truncated
    assert cut is not None and cut.sha256 is None and cut.size_bytes > 64 * 2048
    assert sent < 64 * 1024 * 1024  # stopped soon after the reader did, not read to a buffer


async def test_a_compressed_body_is_decoded_once(executor: HttpStepExecutor) -> None:
    body = gzip.compress(b'{"id": "r-1"}')

    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        writer.write(head + b"content-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    async with raw_server(gzipped) as url:
        outcome = await executor.send(request(f"{url}/x"))
    assert outcome.response is not None and outcome.response.body == {"id": "r-1"}


async def test_large_bodies_are_cut_to_the_limit(executor: HttpStepExecutor, participant: ScriptedParticipant) -> None:
    participant.on("/big", Reply(body="x" * 100_000))
    outcome = await executor.send(request(f"{participant.url}/big"))
    assert outcome.kind is OutcomeKind.SUCCESS and outcome.response is not None
    assert isinstance(outcome.response.body, str) and len(outcome.response.body) <= 2048


async def test_unsupported_scheme_is_invalid_not_sent(executor: HttpStepExecutor) -> None:
    outcome = await executor.send(request("ftp://127.0.0.1/x"))
    assert outcome.kind is OutcomeKind.INVALID


def test_client_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    client = build_client()
    assert client._trust_env is False
    asyncio.run(client.aclose())
    assert isinstance(client, httpx.AsyncClient)


async def test_outbound_policy_refuses_before_sending(participant: ScriptedParticipant) -> None:
    client = build_client()
    try:
        guarded = HttpStepExecutor(client, policy=TargetPolicy(("inventory.internal:8001",)))
        outcome = await guarded.send(request(f"{participant.url}/x"))
    finally:
        await client.aclose()
    assert outcome.kind is OutcomeKind.INVALID and "SAGA_ALLOWED_TARGETS" in (outcome.error or "")
    assert not participant.requests


def test_target_policy_patterns_and_metadata() -> None:
    open_policy = TargetPolicy()
    assert open_policy.check("http://inventory:8001/x") is None
    assert open_policy.check("http://169.254.169.254/latest/meta-data") is not None
    assert open_policy.check("http://[::ffff:169.254.169.254]/") is not None
    assert open_policy.check("http://169.254.1.1/") is not None  # link-local
    strict = TargetPolicy(("*.svc.cluster.local", "127.0.0.1:8101", "169.254.169.254"))
    assert strict.check("http://payment.svc.cluster.local/charges") is None
    assert strict.check("http://127.0.0.1:8101/reservations") is None
    assert strict.check("http://127.0.0.1:8102/charges") is not None
    assert strict.check("http://169.254.169.254/") is None  # named explicitly


async def test_calls_carry_our_user_agent_and_never_a_cookie_a_participant_set(
    executor: HttpStepExecutor, participant: ScriptedParticipant
) -> None:
    # A session cookie one participant (or one saga's call) sets must never ride along on the
    # next call: the coordinator is not a browser, and executions are not one user.
    participant.on("/login", Reply(status=200, headers={"Set-Cookie": "session=s3cr3t; Path=/"}))
    participant.on("/next", Reply(status=200))
    await executor.send(request(f"{participant.url}/login"))
    await executor.send(request(f"{participant.url}/next"))
    sent = participant.calls("/next")[0].headers
    assert "cookie" not in {name.lower() for name in sent}
    assert sent["user-agent"].startswith("saga-coordinator/")
