"""A participant that misbehaves on purpose: one raw asyncio socket server, one misbehaviour per path.

Used by the fault tests (`tests/integration/test_misbehaving_participants.py`) and by the bench
part `participants` (`python -m bench --part participants`), which runs it as its own process
(`python -m bench.misbehaving serve --port P`) so its buffers never count in the caller's RSS.

Each `Case` says what the participant does (`path`, served here) and what that is in the terms
of the classification table in `coordinator/executor/classify.py` (`happened`, plus the status
when there was a final answer): the expected classification is the table's, never a literal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache

from coordinator.executor.classify import Happened

MB = 1024 * 1024
HUGE_BYTES = 100 * MB
BOMB_EXPANDED_BYTES = 1024 * MB
_BLOCK = 64 * 1024

Writer = asyncio.StreamWriter
Behaviour = Callable[[asyncio.StreamReader, Writer], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Case:
    """One misbehaviour: served at `/<name>`; `happened` and `status` are the table's terms for it."""

    name: str
    what: str
    happened: Happened
    status: int | None = None
    scheme: str = "http"

    def url(self, port: int, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{port}/{self.name}"


CASES: tuple[Case, ...] = (
    Case("silent", "accepts the request, never sends a status line", Happened.TIMED_OUT),
    Case("trickle", "200 with a 1,000-byte body, one byte a second", Happened.TIMED_OUT),
    Case("huge", "200 with a 100 MB body (Content-Length)", Happened.ANSWERED, 200),
    Case("endless", "200 with an endless chunked body", Happened.ANSWERED, 200),
    Case("gzip-bomb", "200, Content-Encoding: gzip, 1 MB expanding to 1 GB", Happened.ANSWERED, 200),
    Case("endless-headers", "200, then header lines forever", Happened.BROKE),
    Case("bad-status", "a status line that is not HTTP", Happened.BROKE),
    Case("bad-header", "a header line without a colon", Happened.BROKE),
    Case("bad-length", "Content-Length: abc", Happened.BROKE),
    Case("reset-mid-body", "200, half the announced body, then a TCP reset", Happened.BROKE),
    Case("reset-past-cap", "200 announcing 100 MB, 2 MB of it (past the cap), then a reset", Happened.ANSWERED, 200),
    Case("slow-tail", "200 with 512 KB: 256 KB, a 0.5 s pause, then the rest", Happened.ANSWERED, 200),
    Case("continue", "100 Continue and 103 Early Hints, then 201", Happened.ANSWERED, 201),
    Case("endless-1xx", "100 Continue forever, never a final status", Happened.TIMED_OUT),
    Case("switching", "101 Switching Protocols to a request that asked for no upgrade", Happened.BROKE),
    Case("redirect-loop", "302 to itself", Happened.ANSWERED, 302),
    Case("tls-to-plain", "https:// to this plain-HTTP port", Happened.NOT_CONNECTED, scheme="https"),
)
BY_NAME = {case.name: case for case in CASES}


@cache
def gzip_bomb() -> bytes:
    """A valid gzip member of `BOMB_EXPANDED_BYTES` zeros (~1 MB): built from one repeated flushed block."""
    zeros = bytes(MB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    compressor.compress(zeros)
    compressor.flush(zlib.Z_FULL_FLUSH)  # a full flush forgets the history: every later block is alike
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = BOMB_EXPANDED_BYTES // MB
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, BOMB_EXPANDED_BYTES & 0xFFFFFFFF)
    return header + block * blocks + compressor.flush(zlib.Z_FINISH) + trailer


async def _forever(writer: Writer, data: bytes, *, pause: float = 0.0) -> None:
    while True:
        writer.write(data)
        await writer.drain()
        if pause:
            await asyncio.sleep(pause)


async def silent(_: asyncio.StreamReader, writer: Writer) -> None:
    await asyncio.sleep(3600)


async def trickle(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n")
    await _forever(writer, b"t", pause=1.0)


async def huge(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % HUGE_BYTES)
    block = b"h" * _BLOCK
    for _ in range(HUGE_BYTES // _BLOCK):
        writer.write(block)
        await writer.drain()


async def endless(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n")
    await _forever(writer, b"%x\r\n%s\r\n" % (_BLOCK, b"e" * _BLOCK))


async def bomb(_: asyncio.StreamReader, writer: Writer) -> None:
    body = gzip_bomb()
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    view = memoryview(body)
    for start in range(0, len(body), _BLOCK):
        writer.write(view[start : start + _BLOCK])
        await writer.drain()


async def endless_headers(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    await _forever(writer, b"".join(b"x-filler-%d: %s\r\n" % (i, b"f" * 100) for i in range(500)))


def _answer(raw: bytes, *, then_close: bool = False) -> Behaviour:
    """Write `raw`; then close (a complete answer) or wait (the client decides when it is over)."""

    async def answer(_: asyncio.StreamReader, writer: Writer) -> None:
        writer.write(raw)
        await writer.drain()
        if not then_close:
            await asyncio.sleep(3600)

    return answer


async def reset_mid_body(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n" + b"r" * 50_000)
    await writer.drain()
    await asyncio.sleep(0.05)
    _reset(writer)


async def reset_past_cap(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % HUGE_BYTES)
    block = b"p" * _BLOCK
    for _ in range(2 * MB // _BLOCK):
        writer.write(block)
        await writer.drain()
    await asyncio.sleep(0.3)  # the caller has read the part it keeps by then, even on a busy box
    _reset(writer)


async def slow_tail(_: asyncio.StreamReader, writer: Writer) -> None:
    half = b"s" * (256 * 1024)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % (2 * len(half)))
    writer.write(half)
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.write(half)
    await writer.drain()


def _reset(writer: Writer) -> None:
    sock = writer.get_extra_info("socket")
    # SO_LINGER with a zero timeout: close() sends a RST instead of a FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def endless_1xx(_: asyncio.StreamReader, writer: Writer) -> None:
    await _forever(writer, b"HTTP/1.1 100 Continue\r\n\r\n", pause=0.01)


async def redirect_loop(_: asyncio.StreamReader, writer: Writer) -> None:
    writer.write(b"HTTP/1.1 302 Found\r\nlocation: /redirect-loop\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    await writer.drain()


BEHAVIOURS: dict[str, Behaviour] = {
    "silent": silent,
    "trickle": trickle,
    "huge": huge,
    "endless": endless,
    "gzip-bomb": bomb,
    "endless-headers": endless_headers,
    "bad-status": _answer(b"HTTP/1.1 two hundred OK\r\ncontent-length: 0\r\n\r\n"),
    "bad-header": _answer(b"HTTP/1.1 200 OK\r\nthis line has no colon\r\ncontent-length: 0\r\n\r\n"),
    "bad-length": _answer(b"HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\nhello"),
    "reset-mid-body": reset_mid_body,
    "reset-past-cap": reset_past_cap,
    "slow-tail": slow_tail,
    "continue": _answer(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 11\r\n"
        b"connection: close\r\n\r\n{\"id\": \"c\"}",
        then_close=True,
    ),
    "endless-1xx": endless_1xx,
    "switching": _answer(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n\x81\x05hello"
    ),
    "redirect-loop": redirect_loop,
}
TLS_HANDSHAKE = 0x16


class MisbehavingServer:
    """The server: counts requests per path (`hits`) so a test can tell one call from a resend."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> MisbehavingServer:
        self._server = await asyncio.start_server(self._handle, host, port, limit=1 << 20, backlog=512)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> MisbehavingServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # closing: asyncio's stream callback would log a cancelled handler as an error
        finally:
            self._tasks.discard(task)
            writer.close()  # a graceful close sends what was written; `reset-mid-body` aborts on its own

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        first = await reader.readexactly(1)
        if first[0] == TLS_HANDSHAKE:
            self.hits["tls-to-plain"] = self.hits.get("tls-to-plain", 0) + 1
            # What a plain HTTP server answers to a TLS ClientHello (nginx does the same).
            writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
            return
        head = first + await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        path = request_line.split(" ")[1].lstrip("/").split("?")[0]
        if path == "hits":  # how many requests each path got: a test tells one call from a resend
            body = json.dumps(self.hits).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                % len(body)
            )
            writer.write(body)
            await writer.drain()
            return
        self.hits[path] = self.hits.get(path, 0) + 1
        behaviour = BEHAVIOURS.get(path)
        if behaviour is None:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            )
            await writer.drain()
            return
        await behaviour(reader, writer)


async def _serve_forever(port: int) -> None:
    gzip_bomb()  # built before the port opens: the caller waits for it, not the first request
    server = await MisbehavingServer().start(port=port)
    print(f"listening on {server.port}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port))


if __name__ == "__main__":
    main()
