"""The httpx step executor: sends one attempt within its timeout and classifies the result."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import replace

import httpx

from coordinator import __version__
from coordinator.core.outcome import OutcomeKind, RequestSnapshot, StepOutcome, TruncatedBody
from coordinator.executor.classify import classify_response, classify_transport_error, decode_body, out_of_time
from coordinator.executor.connection_progress import never_connected
from coordinator.executor.decoding import BoundedDecoder, CorruptBody
from coordinator.executor.limits import request_problem
from coordinator.executor.network_errors import InterimAnswer
from coordinator.executor.policy import TargetPolicy
from coordinator.executor.transport import POLICY_EXTENSION, GuardedTransport, Resolver, TargetRefused, system_resolver
from coordinator.ports import AttemptTracer, NullAttemptTracer, OutboundRequest, StepExecutor
from coordinator.redaction import redact, redact_json, spellings

USER_AGENT = f"saga-coordinator/{__version__}"
"""Sent on every participant call unless the step's definition sets its own."""
_DRAIN_FACTOR = 64
"""A body past the limit is still read (not kept) up to this many limits, to record its size and hash."""
_MAX_SIZING = 4
"""At most this many answers are read on past the limit at once (to size and hash them); the rest are cut there."""
_DECODE_SLICE = 32 * 1024
_PARSED_URLS = 1024
"""At most this many participant URLs are kept parsed."""
_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""Request bodies' encoding, built once (`json.dumps` with options builds an encoder per call)."""
"""At most this many participant URLs are kept parsed."""
"""A compressed body is inflated this many bytes at a time, the loop free to run between slices."""


def build_client(
    *,
    max_connections: int = 200,
    resolver: Resolver = system_resolver,
    policy: TargetPolicy | None = None,
) -> httpx.AsyncClient:
    """The client for participant calls.

    Its transport resolves each host once, checks every address with the target policy (the
    executor's, carried on each request; `policy` for requests without one) and connects to a
    checked address, so DNS cannot point the connection elsewhere after the check. No proxy,
    whatever `HTTP(S)_PROXY` say (`trust_env=False`, and the transport builds no proxy pool):
    variables meant for the operator's shell must not reroute saga traffic. Redirects are not
    followed: a participant cannot send the coordinator elsewhere.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport = GuardedTransport(limits=limits, resolver=resolver, policy=policy)
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)


class HttpStepExecutor(StepExecutor):
    """Sends attempts with an injected `httpx.AsyncClient` (the transport is the test seam)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_response_bytes: int = 256 * 1024,
        policy: TargetPolicy | None = None,
        tracer: AttemptTracer | None = None,
    ) -> None:
        self._client = client
        self._max_response_bytes = max_response_bytes
        self._policy = policy or TargetPolicy()
        self._tracer = tracer or NullAttemptTracer()
        self._sizing = 0
        self._urls: dict[str, httpx.URL] = {}
        """Answers being read past the limit right now, to size and hash them (at most `_MAX_SIZING`)."""

    async def aclose(self) -> None:
        """Close the client: for the one who built it (see `build_client`) and handed it over for good."""
        await self._client.aclose()

    async def send(self, request: OutboundRequest) -> StepOutcome:
        """Send once, inside the attempt's HTTP client span, which the participant's traceparent names."""
        forms = spellings(request.redact)
        span = self._tracer.start(request, url=redact(request.url, forms))
        headers = {**request.headers, **span.headers}
        try:
            outcome = _redacted(await self._send(request, headers), forms)
            if outcome.request is not None:
                outcome = replace(outcome, request=self._kept_request(outcome.request, forms))
        except BaseException as error:
            span.abort(error)
            raise
        span.finish(outcome)
        return outcome

    async def _send(self, request: OutboundRequest, headers: dict[str, str]) -> StepOutcome:
        """The exchange itself, body included, bounded by the attempt's timeout."""
        refusal = self._policy.check(request.url)
        if refusal is not None:
            return StepOutcome(kind=OutcomeKind.INVALID, error=f"refused by the outbound policy: {refusal}")
        problem = request_problem(request.url, headers)
        if problem is not None:
            return StepOutcome(kind=OutcomeKind.INVALID, error=f"request refused: {problem}")
        if request.timeout_ms <= 0:
            return out_of_time(request.call, is_compensation=request.is_compensation)
        timeout_s = request.timeout_ms / 1000
        if not any(name.lower() == "user-agent" for name in headers):
            headers["User-Agent"] = USER_AGENT
        content = None
        if request.body is not None:
            content = _COMPACT.encode(request.body).encode()
            headers.setdefault("content-type", "application/json")
        sent = RequestSnapshot(method=request.method, url=request.url, headers=dict(headers), body=request.body)
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + timeout_s
        outcome = await self._exchange(request, headers, content, timeout_s, deadline, started)
        return replace(outcome, request=sent)

    async def _exchange(
        self,
        request: OutboundRequest,
        headers: dict[str, str],
        content: bytes | None,
        timeout_s: float,
        deadline: float,
        started: float,
    ) -> StepOutcome:
        try:
            # Built directly, not with `client.build_request`: nothing of the client's own state
            # (its cookie jar above all: one participant's cookies are no other's business) is
            # merged into a participant call, and the merging was a tenth of the CPU per call.
            http_request = httpx.Request(
                request.method,
                self._parsed(request.url),
                headers=headers,
                content=content,
                extensions={"timeout": httpx.Timeout(timeout_s).as_dict(), POLICY_EXTENSION: self._policy},
            )
            async with asyncio.timeout_at(deadline):
                response = await self._deliver(http_request)
                try:
                    if response.status_code < 200:
                        # aiohttp reads past 100/102/103 to the final answer; a 101 nobody asked for
                        # (or any other 1xx handed up) is the end of HTTP on this connection.
                        raise InterimAnswer(response.status_code, response.reason_phrase, request=http_request)
                    body_bytes, truncated = await self._read_bounded(response, deadline)
                finally:
                    await response.aclose()
        except TargetRefused as refused:
            # Checked on the resolved addresses: never retried, so it cannot become a retry storm.
            return StepOutcome(
                kind=OutcomeKind.INVALID,
                error=f"refused by the outbound policy: {refused}",
                duration_ms=self._elapsed(started),
            )
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            if isinstance(error, TimeoutError) and never_connected(http_request):
                # The attempt's deadline ended it while connecting: nothing was sent, as with
                # aiohttp's own connect timeout (which the deadline usually beats by a hair).
                error = httpx.ConnectTimeout("no connection before the attempt's deadline", request=http_request)
            return classify_transport_error(
                request.call,
                error,
                is_compensation=request.is_compensation,
                duration_ms=self._elapsed(started),
            )
        return classify_response(
            request.call,
            status=response.status_code,
            headers=response.headers,
            body=decode_body(body_bytes, response.headers.get("content-type")),
            is_compensation=request.is_compensation,
            duration_ms=self._elapsed(started),
            truncated=truncated,
        )

    def _parsed(self, url: str) -> httpx.URL:
        """`url` parsed, remembered: a step's URL is mostly the same text call after call, and
        parsing it was a sixth of building each request. Bounded: templated URLs may all differ."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _PARSED_URLS:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def _deliver(self, http_request: httpx.Request) -> httpx.Response:
        """The client's transport answers `http_request`, its body still streaming.

        Straight to the transport the client would pick for the URL, not through
        `AsyncClient.send`: the client's layers (auth, redirects, event hooks, its cookie jar,
        its per-request log line) are all off or unwanted for a participant call, and walking
        through them was a fifth of the CPU of each call. What `send` adds that matters is
        kept: a closed client refuses, transport errors carry the request, the answer names it.
        """
        client = self._client
        if client.is_closed:
            raise RuntimeError("the participant client has been closed")
        transport = client._transport_for_url(http_request.url)
        try:
            response = await transport.handle_async_request(http_request)
        except httpx.RequestError as error:
            error.request = http_request
            raise
        response.request = http_request
        return response

    async def _read_bounded(self, response: httpx.Response, deadline: float) -> tuple[bytes, TruncatedBody | None]:
        """Keep at most `max_response_bytes`; past that, read on (up to a bound) only to size and hash it.

        At most `_MAX_SIZING` calls read on at once; the others cut their answer at the limit.
        The part past the limit gets the attempt's time minus a margin: a participant that
        answered must not turn into a timeout (an unknown outcome) because its body is endless,
        nor into a broken connection because it broke past the part kept.
        A compressed body is decoded here, never past the limit (`BoundedDecoder`), and not read
        on at all past it: its decoded size could be a thousand times what comes over the wire.
        """
        limit = self._max_response_bytes
        decoder = BoundedDecoder(response.headers.get("content-encoding"))
        kept = bytearray()
        digest = hashlib.sha256()
        size = 0
        chunks = response.aiter_raw()
        try:
            async for raw in chunks:
                chunk = decoder.decode(raw, min(limit + 1 - len(kept), _DECODE_SLICE)) if decoder.decodes else raw
                while True:
                    size += len(chunk)
                    digest.update(chunk)
                    kept += chunk[: limit - len(kept)]
                    if size > limit or not decoder.pending:
                        break
                    # A slice at a time, letting the loop run between: 50 bombs inflated in one
                    # go each showed ~100 ms of loop lag when their chunks arrived together.
                    await asyncio.sleep(0)
                    chunk = decoder.decode(b"", min(limit + 1 - len(kept), _DECODE_SLICE))
                if size > limit:
                    break
            else:
                tail = decoder.flush(limit + 1 - len(kept))
                size += len(tail)
                digest.update(tail)
                kept += tail[: limit - len(kept)]
        except CorruptBody:
            # The participant answered; what decoded before the damage is all there is to keep.
            return bytes(kept), None
        if size <= limit:
            return bytes(kept), None
        if decoder.decodes or self._sizing >= _MAX_SIZING:
            # Sizing is best effort: with every slot taken, reading megabytes more for each of many
            # big answers at once starved the others' first bytes until they timed out (50 endless
            # bodies at once: 33 of them an unknown outcome on the busy box).
            return bytes(kept), TruncatedBody(size_bytes=size, sha256=None, kept_bytes=len(kept))
        complete = False
        loop = asyncio.get_running_loop()
        margin = max(0.0, min(0.05, (deadline - loop.time()) / 10))
        self._sizing += 1
        try:
            async with asyncio.timeout_at(deadline - margin):
                async for chunk in chunks:
                    size += len(chunk)
                    digest.update(chunk)
                    if size > limit * _DRAIN_FACTOR:
                        break
                else:
                    complete = True
        except (TimeoutError, httpx.TransportError):
            # Only the part read to size and hash it is lost: what is kept arrived whole, so a
            # connection that breaks here does not make an answered call an unknown outcome.
            pass
        finally:
            self._sizing -= 1
        return bytes(kept), TruncatedBody(
            size_bytes=size, sha256=digest.hexdigest() if complete else None, kept_bytes=len(kept)
        )

    def _kept_request(self, sent: RequestSnapshot, forms: tuple[str, ...]) -> RequestSnapshot:
        """The request as it is kept: secrets as `***`, the body cut at the response limit like answers."""
        body = redact_json(sent.body, forms) if forms else sent.body
        truncated = None
        if body is not None:
            encoded = _COMPACT.encode(body).encode()
            limit = self._max_response_bytes
            if len(encoded) > limit:
                truncated = TruncatedBody(
                    size_bytes=len(encoded), sha256=hashlib.sha256(encoded).hexdigest(), kept_bytes=limit
                )
                body = encoded[:limit].decode("utf-8", errors="ignore")
        if not forms:
            return replace(sent, body=body, truncated=truncated)
        return RequestSnapshot(
            method=sent.method,
            url=redact(sent.url, forms),
            headers={k: redact(v, forms) for k, v in sent.headers.items()},
            body=body,
            truncated=truncated,
        )

    @staticmethod
    def _elapsed(started: float) -> int:
        return int((time.perf_counter() - started) * 1000)


def _redacted(outcome: StepOutcome, forms: tuple[str, ...]) -> StepOutcome:
    """`outcome` without the secrets in its error or its kept response (a participant may echo them)."""
    if not forms:
        return outcome
    response = outcome.response
    if response is not None:
        response = replace(
            response,
            headers={k: redact(v, forms) for k, v in response.headers.items()},
            body=redact_json(response.body, forms),
        )
    error = redact(outcome.error, forms) if outcome.error is not None else None
    return replace(outcome, error=error, response=response)
