"""The classification table: what an answer (or its absence) means for the saga.

| what happened                               | kind                      | effect unknown |
|---------------------------------------------|---------------------------|----------------|
| status in `success`                         | success                   | no             |
| compensation, any other status              | retryable                 | no             |
| status in `retry_on`                        | retryable                 | no             |
| any other status                            | fatal                     | no             |
| could not connect (refused, DNS, TLS,       | retryable if `connect`    | no             |
| connect timeout)                            |                           |                |
| timed out after sending (no final status,   | retryable if `timeout`    | yes            |
| or its body not complete, in time)          |                           |                |
| connection broke after sending, or the      | retryable if `connect`    | yes            |
| answer is not HTTP (bad status line or      |                           |                |
| header, a 101 nobody asked for, cut short)  |                           |                |
| request could not be built or sent at all   | invalid                   | no             |

The table is data too (`TABLE`, rows named by `Happened`): `classify_transport_error` reads it,
and the fault tests derive what they expect from it (`expected`) rather than repeating it.

A failure without an answer is told in an operator's words (`network_errors`): `connection
refused by 127.0.0.1:8199`, `could not resolve host pay.internal: ...`, `TLS handshake with
pay.internal:443 failed: ...`, `connection reset by 10.0.0.7:8080 after the request was sent
(outcome unknown)`.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from coordinator.core.outcome import OutcomeKind, ResponseSnapshot, StepOutcome, TruncatedBody
from coordinator.core.spec import CallSpec, any_matches
from coordinator.executor.error_summary import summarize_error_body
from coordinator.executor.network_errors import broken_connection, connect_failure


class Happened(StrEnum):
    """What happened to an attempt, in the table's terms (its rows)."""

    ANSWERED = "answered"
    """A final HTTP status came back (its body may be cut at the limit)."""
    NOT_CONNECTED = "not connected"
    """Refused, DNS, TLS, connect timeout: not a byte of the request reached the participant."""
    TIMED_OUT = "timed out after sending"
    """The request may have been sent; no complete answer within the attempt's timeout."""
    BROKE = "broke after sending"
    """The request may have been sent; the connection broke or the answer was not HTTP."""
    NOT_SENT = "not sent"
    """The coordinator refused to build or send the request (policy, limits, scheme)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row without a status: whether it is retried (`retry_if` over the call) and whether the effect is unknown."""

    retry_if: Callable[[CallSpec], bool] | None
    """None: never retried (invalid)."""
    effect_unknown: bool


TABLE: dict[Happened, Row] = {
    Happened.NOT_CONNECTED: Row(retry_if=lambda call: call.retry_on_connect, effect_unknown=False),
    Happened.TIMED_OUT: Row(retry_if=lambda call: call.retry_on_timeout, effect_unknown=True),
    Happened.BROKE: Row(retry_if=lambda call: call.retry_on_connect, effect_unknown=True),
    Happened.NOT_SENT: Row(retry_if=None, effect_unknown=False),
}
"""The rows for attempts without a final status; an answer is classified by its status (`classify_response`)."""


def expected(
    call: CallSpec, happened: Happened, *, status: int | None = None, is_compensation: bool = False
) -> tuple[OutcomeKind, bool]:
    """The table's verdict, `(kind, effect_unknown)`, for what happened (with the status if it answered)."""
    if happened is Happened.ANSWERED:
        assert status is not None, "an answer has a status"
        if any_matches(call.success, status):
            return OutcomeKind.SUCCESS, False
        retry = is_compensation or any_matches(call.retry_on_status, status)
        return (OutcomeKind.RETRYABLE if retry else OutcomeKind.FATAL), False
    row = TABLE[happened]
    if row.retry_if is None:
        return OutcomeKind.INVALID, row.effect_unknown
    retry = is_compensation or row.retry_if(call)
    return (OutcomeKind.RETRYABLE if retry else OutcomeKind.FATAL), row.effect_unknown


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
    kind, _ = expected(call, Happened.ANSWERED, status=status, is_compensation=is_compensation)
    if kind is OutcomeKind.SUCCESS:
        return StepOutcome(kind=kind, status_code=status, response=response, duration_ms=duration_ms)
    detail = summarize_error_body(body)
    error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    retry_after = parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
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
    """Classify a call that got no HTTP answer, by the table's row for what the error says happened."""
    name = type(error).__name__
    text = str(error) or name
    happened = _happened(error)
    kind, effect_unknown = expected(call, happened, is_compensation=is_compensation)
    if happened is Happened.NOT_CONNECTED:
        assert isinstance(error, httpx.TransportError)
        message = connect_failure(error, duration_ms=duration_ms) or f"could not connect: {text}"
    elif happened is Happened.TIMED_OUT:
        message = f"timed out after {duration_ms} ms (outcome unknown)"
    elif happened is Happened.BROKE:
        assert isinstance(error, httpx.TransportError)
        message = broken_connection(error) or f"connection broke after sending ({name}: {text}; outcome unknown)"
    else:
        message = f"request not sent: {name}: {text}"
    return StepOutcome(kind=kind, effect_unknown=effect_unknown, error=message, duration_ms=duration_ms)


def out_of_time(call: CallSpec, *, is_compensation: bool) -> StepOutcome:
    """The attempt's deadline passed before it was sent (a long write-ahead commit): nothing reached
    the participant, so it is retried like a connection that never opened."""
    kind, effect_unknown = expected(call, Happened.NOT_CONNECTED, is_compensation=is_compensation)
    error = "not sent: the attempt's deadline passed before it could be sent"
    return StepOutcome(kind=kind, effect_unknown=effect_unknown, error=error, duration_ms=0)


def _happened(error: Exception) -> Happened:
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Happened.NOT_CONNECTED  # nothing reached the participant: safe to retry, nothing to compensate
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        return Happened.TIMED_OUT
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
        return Happened.BROKE
    return Happened.NOT_SENT
