"""A participant for the crash tests, run as its own process so it outlives coordinator kills.

Every request is written to a ledger with its start and end time, key and outcome. A key is
applied once (Stripe-style); a body whose `busy` names the op gets 503 on that key's first call
(nothing applied: the coordinator retries); a request that arrives while another with the same key
is still being handled is counted as an overlap — the coordinator promised that never happens.

`POST /_hang/{seconds}` makes it hang for that long (the soak's nemesis): a request arriving then gets
no answer until the hang ends; if the caller gives up first (its timeout), the request is dropped
unapplied and kept in `hung`, not in the ledger, as a server that never processed it.

`POST /async/{name}` plays an asynchronous participant (SPEC 7.3): it answers 202 at once and
writes the call's `X-Saga-Callback-Url` to the ledger; the test sends the callback itself, to
whichever coordinator and at whatever moment the fault it stages needs.

Usage: python tests/e2e/participant.py --port 0 --latency-ms 150   (prints "PORT <n>" when ready)
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvicorn
from litestar import Litestar, Request, Response, get, route
from litestar.params import FromPath

LEDGER: list[dict[str, Any]] = []
APPLIED: dict[str, dict[str, Any]] = {}
ACTIVE: set[str] = set()
OVERLAPS: list[str] = []
BUSY: set[str] = set()
"""Keys already answered 503 once (a body's `busy` names the op that is busy on its first call)."""
HUNG: list[dict[str, Any]] = []
LATENCY_S = 0.15
FIRST_LATENCY_S: float | None = None
"""If set, how long the first request of each key is held (a slow first call, a quick re-send)."""
SEEN: set[str] = set()
HANG_UNTIL = 0.0


@route("/op/{name:str}", http_method=["POST", "DELETE"])
async def operate(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    key = request.headers.get("idempotency-key", "")
    body = await request.json() if (await request.body()) else {}
    entry: dict[str, Any] = {
        "start": time.time(),
        "key": key,
        "op": name,
        "method": request.method,
        "execution": request.headers.get("x-saga-execution-id"),
        "step": request.headers.get("x-saga-step"),
        "traceparent": request.headers.get("traceparent"),
        "coordinator": request.headers.get("x-saga-coordinator"),
        "body": body,
    }
    if key in ACTIVE:
        OVERLAPS.append(key)
    ACTIVE.add(key)
    if time.time() < HANG_UNTIL and await _caller_gave_up(request, HANG_UNTIL - time.time()):
        ACTIVE.discard(key)
        HUNG.append({**entry, "end": time.time()})
        return Response({"ok": False}, status_code=599)  # nobody reads it: the caller is gone
    try:
        first = key not in SEEN
        SEEN.add(key)
        await asyncio.sleep(FIRST_LATENCY_S if first and FIRST_LATENCY_S is not None else LATENCY_S)
        if isinstance(body, dict) and body.get("busy") == name and key not in BUSY and key not in APPLIED:
            BUSY.add(key)  # busy: nothing applied, try again (a retryable answer)
            entry.update(applied=False, status=503, busy=True)
        elif key in APPLIED:
            entry.update(applied=False, status=APPLIED[key]["status"])
        else:
            status = 409 if isinstance(body, dict) and body.get("fail") == name else 200
            APPLIED[key] = {"status": status, "at": time.time()}
            entry.update(applied=status == 200, status=status)
        return Response({"ok": entry["status"] == 200, "op": name}, status_code=entry["status"])
    finally:
        ACTIVE.discard(key)
        entry["end"] = time.time()
        LEDGER.append(entry)


async def _caller_gave_up(request: Request[Any, Any, Any], within: float) -> bool:
    """Whether the caller hung up within `within` seconds (the body is read: what comes next is the disconnect)."""

    async def disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnect(), max(within, 0.0))
    except TimeoutError:
        return False
    return True


@route("/_hang/{seconds:float}", http_method=["POST"])
async def hang(seconds: FromPath[float]) -> dict[str, float]:
    global HANG_UNTIL
    HANG_UNTIL = time.time() + seconds
    return {"until": HANG_UNTIL}


@route("/async/{name:str}", http_method=["POST", "DELETE"])
async def operate_later(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    key = request.headers.get("idempotency-key", "")
    now = time.time()
    first = key not in APPLIED
    if first:
        APPLIED[key] = {"status": 202, "at": now}
    LEDGER.append(
        {
            "start": now,
            "end": now,
            "key": key,
            "op": name,
            "method": request.method,
            "execution": request.headers.get("x-saga-execution-id"),
            "step": request.headers.get("x-saga-step"),
            "traceparent": request.headers.get("traceparent"),
            "coordinator": request.headers.get("x-saga-coordinator"),
            "callback_url": request.headers.get("x-saga-callback-url"),
            "applied": first,
            "status": 202,
            "body": None,
        }
    )
    return Response({"pending": True, "op": name}, status_code=202)


@get("/_ledger")
async def ledger() -> dict[str, Any]:
    return {
        "requests": LEDGER,
        "overlaps": OVERLAPS,
        "active": len(ACTIVE),
        "active_keys": sorted(ACTIVE),
        "hung": HUNG,
    }


def main() -> None:
    global LATENCY_S, FIRST_LATENCY_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--first-latency-ms", type=int, default=None)
    args = parser.parse_args()
    LATENCY_S = args.latency_ms / 1000
    FIRST_LATENCY_S = None if args.first_latency_ms is None else args.first_latency_ms / 1000
    app = Litestar([operate, operate_later, hang, ledger])
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
