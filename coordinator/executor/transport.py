"""The participant client's transport: httpx's API over aiohttp's engine, connecting only to checked addresses.

httpx stays the client API (`httpx.AsyncClient`); under it, `GuardedTransport` sends over an
`aiohttp.ClientSession`, which costs a fraction of the CPU of httpx's own httpcore/anyio stack.

Checking a URL's host and then letting the HTTP client resolve it again leaves a window in which
a hostile DNS server answers a harmless address to the check and the metadata service to the
connection (DNS rebinding). So the address lookup aiohttp does for each new connection is ours
(`GuardedResolver`): the host is resolved once, every address it resolved to is checked with the
target policy (one refused address refuses the call: a mixed answer is hostile), and aiohttp
connects to those checked addresses only. Its DNS cache is off, so every new connection is looked
up and checked again. aiohttp does not ask a resolver about a host that is an IP literal: the
transport checks those itself before sending. The `Host` header and the TLS server name stay the
URL's host, since aiohttp takes them from the request, not from the socket. Unix sockets are never
used (the connector only opens TCP).

Proxies are never used (`trust_env=False`, no proxy passed, whatever `HTTP(S)_PROXY` say), aiohttp
neither follows redirects nor keeps cookies (httpx does both jobs, as configured on the client),
and TLS verification uses the system's default trust store. aiohttp's errors become the httpx
exceptions `classify_transport_error` reads, keeping exact the line between "never reached the
participant" (connect errors) and "effect unknown" (anything after the request may have been sent).
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from yarl import URL

from coordinator.executor.addresses import IPAddress, ip_literal
from coordinator.executor.connection_progress import progress_trace, track_connection
from coordinator.executor.policy import TargetPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`(host, port) -> addresses`, in the order to try them. Tests inject one to play DNS tricks."""

POLICY_EXTENSION = "saga.target_policy"
"""Request extension carrying the executor's policy down to the connection."""

_ACTIVE_POLICY: contextvars.ContextVar[TargetPolicy] = contextvars.ContextVar("saga_target_policy")

# aiohttp adds these when absent; httpx already decided which to send, so aiohttp adds none.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


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


def _refuse_unless_allowed(policy: TargetPolicy, host: str, port: int, addresses: list[IPAddress]) -> None:
    for address in addresses:
        refusal = policy.check_address(host, port, address)
        if refusal is not None:
            raise TargetRefused(refusal)


class GuardedResolver(AbstractResolver):
    """aiohttp's address lookup: resolve with our `Resolver`, then check every answer with the active policy."""

    def __init__(self, resolver: Resolver, fallback: TargetPolicy) -> None:
        self._resolver = resolver
        self._fallback = fallback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses to connect to, all allowed; `TargetRefused` if any is not.

        `family` is ignored: every address is checked and offered, as `getaddrinfo` gives them.
        Errors are OSErrors (aiohttp reports them as DNS failures) or `TargetRefused`; the
        lookup's time counts against the connect timeout, which aiohttp applies around it.
        """
        addresses = await self._resolve(host, port)
        _refuse_unless_allowed(_ACTIVE_POLICY.get(self._fallback), host, port, addresses)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=socket.IPPROTO_TCP,
                flags=0,
            )
            for address in addresses
        ]

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        resolved: list[IPAddress] = []
        for answer in await self._resolver(host, port):
            address = ip_literal(answer.split("%", 1)[0])
            if address is None:
                # A resolver answering something that is not an address is refused, not guessed at.
                raise TargetRefused(f"{host} resolved to {answer!r}, which is not an IP address")
            resolved.append(address)
        if not resolved:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} resolved to no address")
        return resolved

    async def close(self) -> None:
        """Nothing to release: the lookups are the injected resolver's."""


class _ResponseBody(httpx.AsyncByteStream):
    """An aiohttp response body, streamed as it arrives; closing it releases the connection.

    A body closed before its end closes the connection (aiohttp cannot reuse it), so an endless
    body is never read beyond what the reader asked for.
    """

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise _as_httpx_error(error, self._request) from error

    async def aclose(self) -> None:
        self._response.release()


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport over an aiohttp session whose lookups are a `GuardedResolver`.

    The request's policy extension picks the policy (the transport's own for requests without
    one). The session is made at the first request, inside the running loop (the client may be
    built before there is one) and closed by `aclose` (from `httpx.AsyncClient.aclose`).
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        resolver: Resolver = system_resolver,
        policy: TargetPolicy | None = None,
    ) -> None:
        self._policy = policy or TargetPolicy()
        self._limits = limits
        self._resolver = GuardedResolver(resolver, self._policy)
        self._tls_context = ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,  # 0: no limit, like httpx's None
                limit_per_host=0,
                keepalive_timeout=self._limits.keepalive_expiry,
                ssl=self._tls_context,
                resolver=self._resolver,
                use_dns_cache=False,  # a cached answer would skip the check on a new connection
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                skip_auto_headers=_AUTO_HEADERS,
                timeout=aiohttp.ClientTimeout(total=None),
                trace_configs=[progress_trace()],
            )
            # aiohttp resends an idempotent request once when the connection breaks, which the
            # attempt would not know about: sending once per attempt is the executor's contract.
            self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` with its policy active for any connection opened on its behalf."""
        extension = request.extensions.get(POLICY_EXTENSION)
        policy = extension if isinstance(extension, TargetPolicy) else self._policy
        url = URL(str(request.url), encoded=True)  # httpx has already normalised and quoted it
        if url.raw_user is not None or url.raw_password is not None:
            url = url.with_user(None)  # httpx already made any credentials an Authorization header
        encoding = request.headers.encoding
        # The raw pairs keep the names' case and any repeats as httpx built them.
        headers = [(name.decode(encoding), value.decode(encoding)) for name, value in request.headers.raw]
        body: bytes | httpx.AsyncByteStream | None
        try:
            body = request.content or None
        except httpx.RequestNotRead:
            # A streamed body goes out as it comes; aiohttp does the chunked framing it announces.
            assert isinstance(request.stream, httpx.AsyncByteStream)  # httpx.AsyncClient sends no other
            body = request.stream
            headers = [(name, value) for name, value in headers if name.lower() != "transfer-encoding"]
        token = _ACTIVE_POLICY.set(policy)
        try:
            self._check_literal_host(policy, url)
            response = await self._client_session().request(
                request.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=_client_timeout(request),
                trace_request_ctx=track_connection(request),
            )
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise _as_httpx_error(error, request) from error
        finally:
            _ACTIVE_POLICY.reset(token)
        version = response.version
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request),
            request=request,
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    @staticmethod
    def _check_literal_host(policy: TargetPolicy, url: URL) -> None:
        """Check a host aiohttp connects to without resolving it (an address: it skips the resolver)."""
        host = url.raw_host or ""
        if not is_ip_address(host):
            return
        literal = ip_literal(host)
        if literal is None:
            raise TargetRefused(f"{host!r} is not an IP address written canonically (a.b.c.d or IPv6)")
        _refuse_unless_allowed(policy, host, url.port or 0, [literal])

    async def aclose(self) -> None:
        """Close the session and its connections (nothing to do if no request was ever sent)."""
        if self._session is not None:
            await self._session.close()


def _client_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts in aiohttp's terms.

    aiohttp's `connect` covers waiting for a pooled connection and opening a new one (lookup,
    TCP, TLS), so it gets httpx's pool and connect times together; `sock_connect` bounds the
    TCP and TLS part alone, `sock_read` each read. aiohttp has no write timeout: the executor's
    own deadline bounds the whole attempt.
    """
    timeouts = request.extensions.get("timeout", {})
    pool, connect, read = timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read")
    return aiohttp.ClientTimeout(
        total=None,
        connect=None if pool is None or connect is None else pool + connect,
        sock_connect=connect,
        sock_read=read,
    )


def _as_httpx_error(error: Exception, request: httpx.Request) -> Exception:
    """The httpx exception for an aiohttp failure, as `classify_transport_error` reads it.

    Only errors raised before a connection exists say nothing was sent (`ConnectError`,
    `ConnectTimeout`); anything after it may have reached the participant. An error this does not
    know is reported as after sending: an unknown outcome is safe, a false "never sent" is not.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, TargetRefused):  # our resolver's refusal, should aiohttp wrap it
            return cause
        cause = cause.__cause__
    message = str(error) or type(error).__name__
    mapped: Exception
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout(message, request=request)
    elif isinstance(error, aiohttp.ClientConnectorError):  # lookup, TCP or TLS failed: nothing sent
        mapped = httpx.ConnectError(message, request=request)
    elif isinstance(error, TimeoutError):  # aiohttp's read timeout (no data within `sock_read`) among them
        mapped = httpx.ReadTimeout(message, request=request)
    elif isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        mapped = httpx.RemoteProtocolError(message, request=request)
    elif isinstance(error, aiohttp.ClientConnectionResetError):  # writing to a closed connection
        mapped = httpx.WriteError(message, request=request)
    elif isinstance(error, aiohttp.NonHttpUrlClientError):
        mapped = httpx.UnsupportedProtocol(message, request=request)
    elif isinstance(error, aiohttp.InvalidURL) or (
        isinstance(error, ValueError) and not isinstance(error, aiohttp.ClientError)
    ):
        # aiohttp refuses to build such a request (URL, header, body): not a byte was sent.
        mapped = httpx.LocalProtocolError(message, request=request)
    else:
        mapped = httpx.ReadError(message, request=request)
    return mapped
