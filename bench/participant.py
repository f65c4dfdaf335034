"""The benchmark's participant: a plain ASGI app on uvicorn (uvloop + httptools), one worker.

It costs as little as a service can: no framework, no JSON parsing of the request, a constant
answer. It decides each answer from the path (`/<scenario>/<step>[/undo]`, see `scenarios`) and counts
every call per path and per Idempotency-Key, so the harness can prove that no call was lost or
duplicated. Control routes (loopback only, like everything here):

- `GET /_counts`: `{paths: {path: {calls, keys, per_key: {"<n>": keys seen n times}}}, times: {path: [first,
  last]}, first_at, last_at}` (times are epoch seconds)
- `POST /_reset`: forget every count
- `POST /_gate/open` · `POST /_gate/close`: release or hold the `recover` scenario's first step

Run: `python -m bench.participant --port P`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench.scenarios import SLOW_DELAY_S, participant_answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
_BODIES = {
    200: b'{"ok":true}',
    201: b'{"ok":true,"id":"r-1"}',
    409: b'{"error":"conflict"}',
    500: b'{"error":"cannot undo"}',
    503: b'{"error":"busy, try again"}',
}
_GATE_LIMIT_S = 900.0
"""A held call is answered 503 after this long even if the gate never opens (every wait is bounded)."""


class Counts:
    """Calls per path and per (path, Idempotency-Key)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.per_key: dict[str, Counter[str]] = {}
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.path_times: dict[str, list[float]] = {}

    def record(self, path: str, key: str) -> int:
        """Count one call; return how many times this key has now been seen on this path."""
        now = time.time()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        times = self.path_times.setdefault(path, [now, now])
        times[1] = now
        self.calls[path] += 1
        keys = self.per_key.setdefault(path, Counter())
        keys[key] += 1
        return keys[key]

    def summary(self) -> dict[str, Any]:
        """Per path: calls, distinct keys, and how many keys were seen 1, 2, ... times."""
        paths: dict[str, Any] = {}
        times: dict[str, list[float]] = {}
        for path, calls in sorted(self.calls.items()):
            keys = self.per_key.get(path, Counter())
            histogram = Counter(keys.values())
            paths[path] = {
                "calls": calls,
                "keys": len(keys),
                "per_key": {str(n): count for n, count in sorted(histogram.items())},
            }
            times[path] = self.path_times[path]
        return {"paths": paths, "times": times, "first_at": self.first_at, "last_at": self.last_at}


class ParticipantApp:
    """The ASGI application."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        await _drain(receive)
        if path.startswith("/_"):
            await self._control(scope["method"], path, send)
            return
        key = ""
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                key = value.decode("latin-1")
                break
        parts = path.strip("/").split("/")
        if len(parts) < 2:
            await _respond(send, 404, b'{"error":"no such path"}')
            return
        scenario, step = parts[0], parts[1]
        compensation = len(parts) > 2 and parts[2] == "undo"
        seen = self.counts.record(path, key)
        if scenario in ("slow", "group"):
            await asyncio.sleep(SLOW_DELAY_S)
        elif scenario == "recover" and step == "s1" and not compensation and not self.gate.is_set():
            try:
                async with asyncio.timeout(_GATE_LIMIT_S):
                    await self.gate.wait()
            except TimeoutError:
                await _respond(send, 503, _BODIES[503])
                return
        status = participant_answer(scenario, step, compensation, seen)
        await _respond(send, status, _BODIES[status])

    async def _control(self, method: str, path: str, send: Send) -> None:
        if path == "/_counts" and method == "GET":
            await _respond(send, 200, json.dumps(self.counts.summary()).encode())
        elif path == "/_reset" and method == "POST":
            self.counts = Counts()
            await _respond(send, 200, b'{"ok":true}')
        elif path == "/_gate/open" and method == "POST":
            self.gate.set()
            await _respond(send, 200, b'{"ok":true}')
        elif path == "/_gate/close" and method == "POST":
            self.gate.clear()
            await _respond(send, 200, b'{"ok":true}')
        else:
            await _respond(send, 404, b'{"error":"no such control route"}')


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    """`python -m bench.participant --port P`."""
    import uvicorn

    parser = argparse.ArgumentParser(description="benchmark participant")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        ParticipantApp(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
