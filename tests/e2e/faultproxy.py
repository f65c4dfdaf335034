"""A TCP fault proxy for the network between a coordinator and PostgreSQL.

It runs its own asyncio loop on a thread of the test process, forwards `127.0.0.1:<port>` to an
upstream address, and can, at any moment:

- `latency(seconds)`: hold every chunk that long before passing it on (each direction, order kept);
- `blackhole()`: a partition. New connections are accepted and then ignored; bytes on existing ones
  are read and dropped, both ways. Nothing is refused or reset: sockets hang half-open, and TCP
  keepalives are answered by this host's kernel, so only the client's own deadlines notice;
- `heal()`: new connections pass again. Connections that were blackholed stay dead (their bytes are
  gone, as after a partition that outlived TCP's retransmissions): the client must drop them itself;
- `reset()`: close every open connection with an RST (SO_LINGER 0), as a restarted server or a
  firewall would.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 65536


@dataclass(eq=False)
class _Pipe:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None
    dead: bool = False
    """Blackholed: every byte from either side is dropped, for good."""
    senders: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    """`FaultProxy(upstream_port).start()`; point the client at `proxy.port`; `stop()` at the end."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._delay = 0.0
        self._blackholed = False
        self._pipes: set[_Pipe] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self.connections = 0
        """Connections accepted so far."""

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            for pipe in list(self._pipes):
                self._close(pipe, rst=True)
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # -- faults (called from the test's thread) ----------------------------------------------

    def latency(self, seconds: float) -> None:
        self._delay = seconds

    def blackhole(self) -> None:
        def cut() -> None:
            self._blackholed = True
            for pipe in self._pipes:
                pipe.dead = True

        self._loop.call_soon_threadsafe(cut)

    def heal(self) -> None:
        def mend() -> None:
            self._blackholed = False

        self._loop.call_soon_threadsafe(mend)

    def reset(self) -> int:
        """RST every open connection; how many there were."""

        async def rst() -> int:
            pipes = list(self._pipes)
            for pipe in pipes:
                self._close(pipe, rst=True)
            return len(pipes)

        return self._call(rst())

    def open_connections(self) -> int:
        return len(self._pipes)

    # -- the proxy itself (on its loop) --------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        pipe = _Pipe(client=writer, upstream=None, dead=self._blackholed)
        self._pipes.add(pipe)
        up_reader: asyncio.StreamReader | None = None
        if not pipe.dead:
            try:
                up_reader, pipe.upstream = await asyncio.open_connection(*self.upstream)
            except OSError:
                self._close(pipe, rst=True)
                return
        if up_reader is not None and pipe.upstream is not None:
            back = asyncio.create_task(self._pump(pipe, up_reader, writer))
            await self._pump(pipe, reader, pipe.upstream)
            await back
        else:
            await self._pump(pipe, reader, None)

    async def _pump(self, pipe: _Pipe, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None) -> None:
        """Copy one direction: each chunk is read at once and written when its delay is over
        (order kept); a dead pipe's chunks are read and dropped."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send(pipe, queue, writer))
        pipe.senders.append(sender)
        try:
            while chunk := await reader.read(_CHUNK):
                queue.put_nowait((time.monotonic() + self._delay, chunk))
        except OSError:
            pass
        queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await sender

    async def _send(
        self, pipe: _Pipe, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter | None
    ) -> None:
        try:
            while (item := await queue.get()) is not None:
                due, chunk = item
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                if pipe.dead or writer is None:
                    continue  # the partition: read, and dropped
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        if not pipe.dead:
            self._close(pipe, rst=False)  # one side hung up: so does the other

    def _close(self, pipe: _Pipe, *, rst: bool) -> None:
        self._pipes.discard(pipe)
        me = asyncio.current_task()
        for task in pipe.senders:
            if task is not me:
                task.cancel()  # closing the sockets ends the readers
        for writer in (pipe.client, pipe.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if rst and sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
