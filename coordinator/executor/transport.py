"""The participant client's transport: resolve, check every address, connect to the checked one.

Checking a URL's host and then letting the HTTP client resolve it again leaves a window in which
a hostile DNS server answers a harmless address to the check and the metadata service to the
connection (DNS rebinding). So the connection itself is made here, by an httpcore network
backend: the host is resolved once, every address it resolved to is checked with the target
policy (one refused address refuses the call: a mixed answer is hostile), and the socket is opened
to a checked address. The `Host` header and the TLS server name stay the URL's host, since
httpcore builds them from the URL, not from the socket.

Proxies are never used (no proxy pool is built, whatever the environment says), and TLS
verification uses the system's default trust store.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from coordinator.executor.addresses import IPAddress, ip_literal
from coordinator.executor.policy import TargetPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`(host, port) -> addresses`, in the order to try them. Tests inject one to play DNS tricks."""

POLICY_EXTENSION = "saga.target_policy"
"""Request extension carrying the executor's policy down to the connection."""

_ACTIVE_POLICY: contextvars.ContextVar[TargetPolicy] = contextvars.ContextVar("saga_target_policy")


class TargetRefused(Exception):
    """The target policy refused every way to reach a host; nothing was sent."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives for `host`, without duplicates, in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the active target policy allows."""

    def __init__(self, resolver: Resolver, fallback: TargetPolicy) -> None:
        self._resolver = resolver
        self._fallback = fallback
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface names it so
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve `host`, check each address, connect to the first allowed one that answers."""
        policy = _ACTIVE_POLICY.get(self._fallback)
        addresses = await self._checked_addresses(policy, host, port, limit_s=timeout)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # _checked_addresses never returns an empty list
        raise error

    async def _checked_addresses(
        self, policy: TargetPolicy, host: str, port: int, *, limit_s: float | None
    ) -> list[IPAddress]:
        literal = ip_literal(host)
        if literal is not None:
            candidates = [literal]
        else:
            candidates = await self._resolve(host, port, limit_s=limit_s)
        for address in candidates:
            refusal = policy.check_address(host, port, address)
            if refusal is not None:
                raise TargetRefused(refusal)
        return candidates

    async def _resolve(self, host: str, port: int, *, limit_s: float | None) -> list[IPAddress]:
        try:
            async with asyncio.timeout(limit_s):
                answers = await self._resolver(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"could not resolve {host}: {error}") from None
        resolved: list[IPAddress] = []
        for answer in answers:
            address = ip_literal(answer.split("%", 1)[0])
            if address is None:
                # A resolver answering something that is not an address is refused, not guessed at.
                raise TargetRefused(f"{host} resolved to {answer!r}, which is not an IP address")
            resolved.append(address)
        if not resolved:
            raise httpcore.ConnectError(f"{host} resolved to no address")
        return resolved

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface names it so
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: participants are reached over TCP only."""
        raise TargetRefused("unix sockets are not participant targets")

    async def sleep(self, seconds: float) -> None:
        """Used by httpcore between connection retries (none are configured)."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a `GuardedBackend`; the request's policy extension picks the policy."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        resolver: Resolver = system_resolver,
        policy: TargetPolicy | None = None,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._policy = policy or TargetPolicy()
        # httpx builds its httpcore pool without a way to pass a network backend: replace it
        # with the same pool over ours (the attribute is httpx's, stable across 0.2x).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(resolver, self._policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` with its policy active for any connection opened on its behalf."""
        policy = request.extensions.get(POLICY_EXTENSION)
        token = _ACTIVE_POLICY.set(policy if isinstance(policy, TargetPolicy) else self._policy)
        try:
            return await super().handle_async_request(request)
        finally:
            _ACTIVE_POLICY.reset(token)
