"""The classification table: what an answer (or its absence) means for the saga.

| what happened                               | kind                      | effect unknown |
|---------------------------------------------|---------------------------|----------------|
| status in `success`                         | success                   | no             |
| compensation, any other status              | retryable                 | no             |
| status in `retry_on`                        | retryable                 | no             |
| any other status                            | fatal                     | no             |
| could not connect (refused, DNS, TLS,       | retryable if `connect`    | no             |
| connect timeout)                            |                           |                |
| timed out after sending, connection broke   | retryable if `timeout` /  | yes            |
|                                             | `connect`                 |                |
| request could not be built or sent at all   | invalid                   | no             |

A failure without an answer is told in an operator's words (`network_errors`): `connection
refused by 127.0.0.1:8199`, `could not resolve host pay.internal: ...`, `TLS handshake with
pay.internal:443 failed: ...`, `connection reset by 10.0.0.7:8080 after the request was sent
(outcome unknown)`.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from coordinator.core.outcome import OutcomeKind, ResponseSnapshot, StepOutcome, TruncatedBody
from coordinator.core.spec import CallSpec, any_matches
from coordinator.executor.error_summary import summarize_error_body
from coordinator.executor.network_errors import broken_connection, connect_failure


def parse_retry_after(value: str | None, *, now: float | None = None) -> int | None:
    """`Retry-After` as milliseconds: delta-seconds or an HTTP date. None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0, int((when.timestamp() - current) * 1000))


def decode_body(content: bytes, content_type: str | None) -> Any:
    """JSON when it parses as JSON, else text; None when empty."""
    if not content:
        return None
    if content_type is None or "json" in content_type or content[:1] in (b"{", b"["):
        try:
            return json.loads(content)
        except ValueError:
            pass
    return content.decode("utf-8", errors="replace")


def classify_response(
    call: CallSpec,
    *,
    status: int,
    headers: Mapping[str, str],
    body: Any,
    is_compensation: bool,
    duration_ms: int,
    truncated: TruncatedBody | None = None,
) -> StepOutcome:
    """Classify an HTTP answer with the call's `success` and `retry_on` patterns."""
    # Kept whatever the status: an operator diagnosing a failure needs the participant's answer.
    response = ResponseSnapshot(status=status, headers=dict(headers), body=body, truncated=truncated)
    if any_matches(call.success, status):
        return StepOutcome(kind=OutcomeKind.SUCCESS, status_code=status, response=response, duration_ms=duration_ms)
    detail = summarize_error_body(body)
    error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    retry_after = parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
    retryable = is_compensation or any_matches(call.retry_on_status, status)
    kind = OutcomeKind.RETRYABLE if retryable else OutcomeKind.FATAL
    return StepOutcome(
        kind=kind,
        status_code=status,
        error=error,
        retry_after_ms=retry_after,
        response=response,
        duration_ms=duration_ms,
    )


def classify_transport_error(
    call: CallSpec, error: Exception, *, is_compensation: bool, duration_ms: int
) -> StepOutcome:
    """Classify a call that got no HTTP answer."""
    name = type(error).__name__
    text = str(error) or name
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        # Nothing reached the participant: safe to retry, nothing to compensate.
        retry = call.retry_on_connect or is_compensation
        return StepOutcome(
            kind=OutcomeKind.RETRYABLE if retry else OutcomeKind.FATAL,
            error=connect_failure(error, duration_ms=duration_ms) or f"could not connect: {text}",
            duration_ms=duration_ms,
        )
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        retry = call.retry_on_timeout or is_compensation
        return StepOutcome(
            kind=OutcomeKind.RETRYABLE if retry else OutcomeKind.FATAL,
            effect_unknown=True,
            error=f"timed out after {duration_ms} ms (outcome unknown)",
            duration_ms=duration_ms,
        )
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
        retry = call.retry_on_connect or is_compensation
        return StepOutcome(
            kind=OutcomeKind.RETRYABLE if retry else OutcomeKind.FATAL,
            effect_unknown=True,
            error=broken_connection(error) or f"connection broke after sending ({name}: {text}; outcome unknown)",
            duration_ms=duration_ms,
        )
    return StepOutcome(kind=OutcomeKind.INVALID, error=f"request not sent: {name}: {text}", duration_ms=duration_ms)
