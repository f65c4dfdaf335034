"""Failures without an answer, against real sockets: each reads as what happened, to whom."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress

import pytest

from coordinator.core import OutcomeKind
from coordinator.executor import HttpStepExecutor, build_client
from tests.e2e.harness import free_port
from tests.integration.test_executor import raw_server, request


@pytest.fixture
async def executor() -> AsyncIterator[HttpStepExecutor]:
    client = build_client(max_connections=10)
    try:
        yield HttpStepExecutor(client, max_response_bytes=2048)
    finally:
        await client.aclose()


@contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose listener never accepts and whose queue is full: a new connection's SYN goes unanswered."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_refused_connection_names_the_address(executor: HttpStepExecutor) -> None:
    port = free_port()
    outcome = await executor.send(request(f"http://127.0.0.1:{port}/x"))
    assert outcome.kind is OutcomeKind.RETRYABLE and not outcome.effect_unknown
    assert outcome.error == f"connection refused by 127.0.0.1:{port}"


async def test_a_host_that_does_not_resolve_is_named() -> None:
    async def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = build_client(max_connections=10, resolver=no_such_host)
    try:
        outcome = await HttpStepExecutor(client).send(request("http://payments.internal:8080/x"))
    finally:
        await client.aclose()
    assert outcome.kind is OutcomeKind.RETRYABLE and not outcome.effect_unknown
    assert outcome.error == "could not resolve host payments.internal: Name or service not known"


async def test_a_connect_timeout_names_the_address_and_the_wait(executor: HttpStepExecutor) -> None:
    with full_backlog() as port:
        outcome = await executor.send(request(f"http://127.0.0.1:{port}/x", timeout_ms=300))
    assert outcome.kind is OutcomeKind.RETRYABLE and not outcome.effect_unknown
    assert re.fullmatch(rf"could not connect to 127\.0\.0\.1:{port} within \d+ ms", outcome.error or ""), outcome.error


async def test_a_failed_tls_handshake_says_so(executor: HttpStepExecutor) -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(64)  # the ClientHello, answered in plain HTTP
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(plain_http) as url:
        port = int(url.rsplit(":", 1)[1])
        outcome = await executor.send(request(f"https://127.0.0.1:{port}/x"))
    assert outcome.kind is OutcomeKind.RETRYABLE and not outcome.effect_unknown
    assert outcome.error == f"TLS handshake with 127.0.0.1:{port} failed: wrong version number"


async def test_a_reset_after_sending_names_the_address_and_leaves_the_outcome_unknown(
    executor: HttpStepExecutor,
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with an RST
        writer.transport.abort()

    async with raw_server(reset) as url:
        port = int(url.rsplit(":", 1)[1])
        outcome = await executor.send(request(f"{url}/x"))
    assert outcome.kind is OutcomeKind.RETRYABLE and outcome.effect_unknown
    assert outcome.error == f"connection reset by 127.0.0.1:{port} after the request was sent (outcome unknown)"


async def test_a_connection_closed_without_an_answer_names_the_address(executor: HttpStepExecutor) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with raw_server(hang_up) as url:
        port = int(url.rsplit(":", 1)[1])
        outcome = await executor.send(request(f"{url}/x"))
    assert outcome.effect_unknown
    assert outcome.error == f"connection closed by 127.0.0.1:{port} before it answered (outcome unknown)"
