"""Whether a request got its connection: until it did, not a byte of it was sent.

The attempt's own deadline (`asyncio.timeout_at` around the whole exchange) may end a call that
is still connecting: a host that never answers the SYN, a lookup that hangs. A bare `TimeoutError`
would then read as "timed out, outcome unknown", and the step would be compensated for a request
the participant never saw. aiohttp tells its trace hooks when a connection is made or taken from
the pool; the hook marks the request, and the executor asks `never_connected` when time runs out.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx

PROGRESS_EXTENSION = "saga.connection"
"""Request extension holding `{"opened": bool}` for a request whose transport tracks its connection."""


def track_connection(request: httpx.Request) -> dict[str, bool]:
    """Start tracking `request`: its record says `opened: False` until aiohttp reports a connection."""
    progress = {"opened": False}
    request.extensions[PROGRESS_EXTENSION] = progress
    return progress


def never_connected(request: httpx.Request) -> bool:
    """True only when `request` was tracked and no connection was opened for it: nothing was sent.

    A request no transport tracked (a test's `httpx.MockTransport`) may have been sent: False.
    """
    progress = request.extensions.get(PROGRESS_EXTENSION)
    return isinstance(progress, dict) and progress.get("opened") is False


def progress_trace() -> aiohttp.TraceConfig:
    """aiohttp trace hooks that mark a request's progress record when its connection is ready."""
    trace = aiohttp.TraceConfig()

    async def opened(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: Any) -> None:
        progress = context.trace_request_ctx
        if isinstance(progress, dict):
            progress["opened"] = True

    trace.on_connection_create_end.append(opened)
    trace.on_connection_reuseconn.append(opened)
    trace.freeze()
    return trace
