"""A participant whose answers each test scripts, served over real loopback HTTP in the test's loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, route
from litestar.params import FromPath

from saga_examples.serve import serve_asgi


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    held_until: threading.Event | None = None
    """Answer only once this is set (from any thread; at most a minute): a call that stays in flight
    exactly as long as the test needs, however slow the machine is."""


@dataclass
class Seen:
    """One request as the participant received it."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class ScriptedParticipant:
    """Answers each path from its script (in order; the last reply repeats); default 200 {}.

    It also watches the coordinator's promise that two attempts of one step never run at once: a
    request that arrives while another with the same `Idempotency-Key` is still being handled is
    recorded in `overlaps`.
    """

    def __init__(self) -> None:
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[Seen] = []
        self.url = ""
        self.active: dict[str, int] = defaultdict(int)
        self.overlaps: list[str] = []

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path].extend(replies)

    def calls(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: Request[Any, Any, Any]) -> Response[Any]:
        raw = await request.body()
        body = await request.json() if raw else None
        path = request.url.path
        self.requests.append(
            Seen(at=time.time(), method=request.method, path=path, headers=dict(request.headers), body=body)
        )
        queue = self.script.get(path)
        reply = Reply(body={"ok": True})
        if queue:
            reply = queue.popleft() if len(queue) > 1 else queue[0]
        key = request.headers.get("idempotency-key")
        if key is not None:
            if self.active[key]:
                self.overlaps.append(key)
            self.active[key] += 1
        try:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            held_since = time.monotonic()
            while reply.held_until is not None and not reply.held_until.is_set():
                if time.monotonic() - held_since > 60:
                    break
                await asyncio.sleep(0.01)
            return Response(reply.body, status_code=reply.status, headers=reply.headers)
        finally:
            if key is not None:
                self.active[key] -= 1

    def app(self) -> Litestar:
        @route("/{path:path}", http_method=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def catch_all(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[Any]:
            return await self._handle(request)

        return Litestar([catch_all], logging_config=None)


@asynccontextmanager
async def serve_participant() -> AsyncIterator[ScriptedParticipant]:
    participant = ScriptedParticipant()
    async with serve_asgi(participant.app()) as url:
        participant.url = url
        yield participant
