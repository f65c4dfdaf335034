"""A participant for the crash tests, run as its own process so it outlives coordinator kills.

Every request is written to a ledger with its start and end time, key and outcome. A key is
applied once (Stripe-style); a body whose `busy` names the op gets 503 on that key's first call
(nothing applied: the coordinator retries); a request that arrives while another with the same key is still
being handled is counted as an overlap — the coordinator promised that never happens.

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
LATENCY_S = 0.15


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
    }
    if key in ACTIVE:
        OVERLAPS.append(key)
    ACTIVE.add(key)
    try:
        await asyncio.sleep(LATENCY_S)
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


@get("/_ledger")
async def ledger() -> dict[str, Any]:
    return {"requests": LEDGER, "overlaps": OVERLAPS, "active": len(ACTIVE), "active_keys": sorted(ACTIVE)}


def main() -> None:
    global LATENCY_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=150)
    args = parser.parse_args()
    LATENCY_S = args.latency_ms / 1000
    config = uvicorn.Config(Litestar([operate, ledger]), host="127.0.0.1", port=args.port, log_level="warning")
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
