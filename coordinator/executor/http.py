"""The httpx step executor: sends one attempt within its timeout and classifies the result."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.executor.classify import classify_response, classify_transport_error, decode_body
from coordinator.executor.policy import TargetPolicy
from coordinator.ports import OutboundRequest, StepExecutor


def build_client(*, max_connections: int = 200) -> httpx.AsyncClient:
    """The client for participant calls.

    `trust_env=False`: proxy variables meant for the operator's shell must not reroute saga
    traffic. Redirects are not followed: a participant cannot send the coordinator elsewhere.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=False)


class HttpStepExecutor(StepExecutor):
    """Sends attempts with an injected `httpx.AsyncClient` (the transport is the test seam)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_response_bytes: int = 256 * 1024,
        policy: TargetPolicy | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._client = client
        self._max_response_bytes = max_response_bytes
        self._policy = policy or TargetPolicy()
        self._tracer = tracer
        self._propagator = TraceContextTextMapPropagator()

    async def send(self, request: OutboundRequest) -> StepOutcome:
        """Send once, inside the attempt's HTTP client span, which the participant's traceparent names."""
        headers = dict(request.headers)
        parent = self._propagator.extract(carrier=request.trace_carrier)
        if self._tracer is None:
            self._propagator.inject(headers, context=parent)
            return await self._send(request, headers)
        span = self._tracer.start_span(
            request.method,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes={
                **request.span_attributes,
                "http.request.method": request.method,
                "url.full": _redacted(request.url, request.redact),
            },
        )
        self._propagator.inject(headers, context=trace.set_span_in_context(span))
        try:
            outcome = await self._send(request, headers)
        except BaseException as error:
            span.record_exception(error)
            span.end()
            raise
        _finish_span(span, outcome, request.redact)
        return outcome

    async def _send(self, request: OutboundRequest, headers: dict[str, str]) -> StepOutcome:
        """The exchange itself, body included, bounded by the attempt's timeout."""
        refusal = self._policy.check(request.url)
        if refusal is not None:
            return StepOutcome(kind=OutcomeKind.INVALID, error=f"refused by the outbound policy: {refusal}")
        timeout_s = request.timeout_ms / 1000
        content = None
        if request.body is not None:
            content = json.dumps(request.body, separators=(",", ":")).encode()
            headers.setdefault("content-type", "application/json")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                http_request = self._client.build_request(
                    request.method,
                    request.url,
                    headers=headers,
                    content=content,
                    timeout=httpx.Timeout(timeout_s),
                )
                response = await self._client.send(http_request, stream=True)
                try:
                    body_bytes = await self._read_bounded(response)
                finally:
                    await response.aclose()
        except (httpx.HTTPError, TimeoutError, OSError) as error:
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
        )

    async def _read_bounded(self, response: httpx.Response) -> bytes:
        """Read at most `max_response_bytes`; a larger body is cut (it is kept for templates only)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= self._max_response_bytes:
                break
        return b"".join(chunks)[: self._max_response_bytes]

    @staticmethod
    def _elapsed(started: float) -> int:
        return int((time.perf_counter() - started) * 1000)


def _redacted(text: str, secrets: frozenset[str]) -> str:
    for value in secrets:
        text = text.replace(value, "***")
    return text


def _finish_span(span: Span, outcome: StepOutcome, secrets: frozenset[str]) -> None:
    """Record the classified outcome on the attempt's span and end it."""
    if outcome.status_code is not None:
        span.set_attribute("http.response.status_code", outcome.status_code)
    span.set_attribute("saga.outcome", outcome.label)
    if outcome.kind is not OutcomeKind.SUCCESS:
        span.set_status(Status(StatusCode.ERROR, _redacted(outcome.describe(), secrets)))
        if outcome.status_code is None:
            span.set_attribute("error.type", outcome.label)
    span.end()
