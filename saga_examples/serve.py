"""Run the three example services inside the current event loop, on loopback ports.

    async with serve_examples() as running:      # ephemeral ports
        running.urls["payment"]                  # "http://127.0.0.1:54321"
        running.env["PAYMENT_URL"]               # the same, under the name the sagas/ files read

Used by the tests and by `saga demo` (which also serves the coordinator with `serve_asgi`);
`python -m saga_examples` runs them on fixed ports by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from litestar import Litestar

from saga_examples import inventory, payment, shipping

SERVICES: dict[str, Callable[[], Litestar]] = {
    "inventory": inventory.create_app,
    "payment": payment.create_app,
    "shipping": shipping.create_app,
}
"""Each service's name and the factory of a fresh app (each `serve_examples` starts with empty state)."""

DEFAULT_PORTS = {"inventory": 8101, "payment": 8102, "shipping": 8103}
"""The ports of `python -m saga_examples`, and the defaults written in the `sagas/` files."""

_START_TIMEOUT_S = 10.0

ASGIApp = Callable[..., Any]
"""Any ASGI application (uvicorn's own type for it is private)."""


@dataclass(frozen=True, slots=True)
class RunningExamples:
    """The services started by `serve_examples`."""

    urls: dict[str, str]
    """Base URL by service name, e.g. {"inventory": "http://127.0.0.1:54321", ...}."""

    @property
    def env(self) -> dict[str, str]:
        """The variables the `sagas/` files read: {"INVENTORY_URL": ..., "PAYMENT_URL": ..., ...}."""
        return {f"{name.upper()}_URL": url for name, url in self.urls.items()}


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers.

    uvicorn swaps the process's SIGINT/SIGTERM handlers while it serves and puts them back when it
    stops; three servers stopping in another order than they started would leave a stale handler
    installed. The program hosting the services owns its signals instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_examples(
    host: str = "127.0.0.1", ports: dict[str, int] | None = None
) -> AsyncIterator[RunningExamples]:
    """Start inventory, payment and shipping; stop them when the block exits.

    Args:
        host: the address to listen on.
        ports: port by service name; a missing name or 0 picks a free port.

    Raises:
        OSError: a port is taken (raised here, before anything runs, rather than uvicorn's exit).
    """
    apps: dict[str, ASGIApp] = {name: create_app() for name, create_app in SERVICES.items()}
    async with _serve_many(apps, host, ports or {}) as urls:
        yield RunningExamples(urls=urls)


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve any ASGI app (the coordinator's, in `saga demo`) the same way; yield its base URL."""
    async with _serve_many({"app": app}, host, {"app": port}) as urls:
        yield urls["app"]


@contextlib.asynccontextmanager
async def _serve_many(apps: dict[str, ASGIApp], host: str, ports: dict[str, int]) -> AsyncIterator[dict[str, str]]:
    """Run one uvicorn server per app in the current event loop; yield base URL by name."""
    sockets: list[socket.socket] = []
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[None]] = []
    urls: dict[str, str] = {}
    try:
        for name, app in apps.items():
            # Binding ourselves gives the real port at once and turns "address in use" into an
            # OSError for the caller, where uvicorn would call sys.exit().
            sock = _bind(host, ports.get(name, 0))
            sockets.append(sock)
            urls[name] = _url(host, sock.getsockname()[1])
            config = uvicorn.Config(
                app,
                log_config=None,  # leave the host program's logging configuration alone
                log_level="warning",
                access_log=False,
                ws="none",  # no websockets here; also keeps its deprecation warnings out of tests
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
            server: uvicorn.Server = _EmbeddedServer(config)
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name=f"serve.{name}"))
        await _until_started(servers, tasks)
        yield urls
    finally:
        for server in servers:
            server.should_exit = True
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for sock in sockets:
            sock.close()  # uvicorn closes them on a clean stop; this covers a failed start
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Name the protocol: asyncio only sets TCP_NODELAY on accepted connections whose listening
    # socket says IPPROTO_TCP, and without it every keep-alive request waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Lets `python -m saga_examples` restart at once on its fixed ports (no TIME_WAIT refusal).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _until_started(servers: list[uvicorn.Server], tasks: list[asyncio.Task[None]]) -> None:
    """Wait, with a deadline, until every server accepts connections."""
    async with asyncio.timeout(_START_TIMEOUT_S):
        while not all(server.started for server in servers):
            for task in tasks:
                if task.done():
                    task.result()  # re-raises what stopped it
                    raise RuntimeError(f"{task.get_name()} stopped before it started")
            await asyncio.sleep(0.005)
