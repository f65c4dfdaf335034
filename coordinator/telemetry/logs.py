"""Structured logs: one line per event that matters (JSON, or text for people), carrying the trace and execution ids."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, assert_never

from opentelemetry.trace import format_span_id

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import ExecutionState
from coordinator.ports import ExecutionRecord
from coordinator.redaction import CALLBACK_PATH, mask_callback_tokens, redact, spellings
from coordinator.telemetry.context import span_context_of, step_span_id, trace_id_of
from coordinator.telemetry.spans import step_round

log = logging.getLogger("coordinator.saga")

_CONTEXT_FIELDS = (
    "trace_id",
    "span_id",
    "execution_id",
    "saga",
    "step",
    "direction",
    "attempt",
    "status_code",
    "outcome",
    "delay_ms",
    "duration_ms",
    "error",
    "event",
    "key",
    "reason",
)
_TEXT_FIELDS = ("execution_id", "key", "trace_id", "outcome", "delay_ms", "duration_ms")
"""What a text line adds after its message: the ids that tell two executions apart, and what the
message does not say (saga, step, attempt, error and reason are in the message already)."""


def log_level(type_: HistoryEventType) -> int | None:
    """The level a history entry of this type is logged at; None: the history and trace say enough."""
    match type_:
        case HistoryEventType.EXECUTION_FAILED:
            return logging.ERROR
        case (
            HistoryEventType.ATTEMPT_FAILED
            | HistoryEventType.ROLLBACK_STARTED
            | HistoryEventType.EXECUTION_COMPENSATED
            | HistoryEventType.COMPENSATION_RESOLVED
            | HistoryEventType.CANCEL_WITHDRAWN
        ):
            return logging.WARNING
        case (
            HistoryEventType.EXECUTION_STARTED
            | HistoryEventType.RETRY_SCHEDULED
            | HistoryEventType.CANCEL_REQUESTED
            | HistoryEventType.RETRY_REQUESTED
            | HistoryEventType.ATTEMPT_RESENT
            | HistoryEventType.EXECUTION_COMPLETED
            | HistoryEventType.ATTEMPT_WAITING
            | HistoryEventType.CALLBACK_RECEIVED
        ):
            return logging.INFO
        case HistoryEventType.ATTEMPT_SUCCEEDED:
            # Each successful call is in the history and the trace; at INFO it would be most of the log.
            return logging.DEBUG
        case HistoryEventType.HEARTBEAT_RECEIVED:
            return logging.DEBUG  # a participant may heartbeat often; the history keeps each one
        case HistoryEventType.ATTEMPT_STARTED | HistoryEventType.STEP_FAILED:
            return None
        case _:
            assert_never(type_)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...context}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_text:  # set (and redacted) by SecretRedactingFilter
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value ...` on one line, for people (`SAGA_LOG_FORMAT=text`).

    The message is the JSON line's; the pairs after it carry the execution and trace ids, so two
    executions of one saga never print the same line. A value with a space, a quote or an `=` is
    quoted as a JSON string (logfmt's convention).
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The formatted line, then the context pairs this record carries (before any traceback)."""
        pairs = "".join(
            f" {name}={_logfmt(value)}" for name in _TEXT_FIELDS if (value := getattr(record, name, None)) is not None
        )
        return super().formatMessage(record) + pairs


def _logfmt(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text


REDACTED_LOGGERS = (
    "httpx",
    "aiohttp.client",
    "aiohttp.internal",
    "coordinator",
    "coordinator.api",
    "coordinator.engine",
    "coordinator.saga",
    "coordinator.telemetry",
    "litestar",
    "uvicorn.error",
    "apscheduler.scheduler",
    "apscheduler.executors.default",
)
"""Loggers that get the redacting filter. A logger's filters see only its own records (not its
children's), so each one that may carry a URL, an error or a traceback is named."""


class SecretRedactingFilter(logging.Filter):
    """Value-based redaction, a backstop: any current secret value in a record becomes `***`.

    The message, its arguments, the structured fields (`error`, ...) and the traceback text are
    all rewritten. Installed on the `httpx` logger, among others, which logs every request's full
    URL at INFO — a URL whose query was rendered from `{{ secrets.NAME }}` would otherwise reach
    the logs.
    """

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record without the secret values; never drop it."""
        forms = spellings(self._secrets())
        message = record.getMessage()
        if CALLBACK_PATH in message:  # a callback token is a capability, masked like a secret
            record.msg, record.args = message, ()
            message = record.msg = mask_callback_tokens(message)
        if not forms:
            return True
        redacted = redact(message, forms)
        if redacted != message:
            record.msg, record.args = redacted, ()
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value, forms))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, forms)
        return True


def install_redaction(secrets: Callable[[], Iterable[str]], loggers: Iterable[str] = REDACTED_LOGGERS) -> None:
    """Add a `SecretRedactingFilter` to each logger, once."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretRedactingFilter) for f in logger.filters):
            logger.addFilter(SecretRedactingFilter(secrets))


def log_history(record: ExecutionRecord, history: Sequence[HistoryEvent]) -> None:
    """Log each new history entry that matters, with its trace and span ids."""
    state = record.state
    trace_id = trace_id_of(record.trace_context)
    root = span_context_of(record.trace_context)
    for e in history:
        level = log_level(e.type)
        if level is None or not log.isEnabledFor(level):
            continue
        span_id = format_span_id(root.span_id) if root else None
        if e.step is not None and e.direction is not None:
            round_ = step_round(record, e.step, e.direction)
            span_id = format_span_id(step_span_id(state.id, e.step, e.direction.value, round_))
        # A failed execution's error is its compensation's; the rollback's cause is in `rollback_started`.
        reason = rollback_reason(state) if e.type is HistoryEventType.EXECUTION_COMPENSATED else None
        extra = {
            "event": e.type,
            "trace_id": trace_id,
            "span_id": span_id,
            "execution_id": state.id,
            "saga": state.saga,
            "key": record.business_key,
            "step": e.step,
            "direction": e.direction.value if e.direction else None,
            "attempt": e.attempt,
            "status_code": e.status_code,
            "outcome": e.outcome,
            "delay_ms": e.delay_ms,
            "duration_ms": e.duration_ms,
            "error": e.error,
            "reason": reason,
        }
        log.log(level, _message(state.saga, e, reason), extra=extra)


def log_attention(record: ExecutionRecord, reason: str) -> None:
    """One WARNING when an execution starts needing an operator: what an on-call alert links to."""
    state = record.state
    key = f" (key {record.business_key})" if record.business_key else ""
    why = {
        "failed": f"failed: {state.error.message if state.error else 'a compensation failed'}; retry or resolve it",
        "quarantined": f"quarantined: {record.quarantined}",
    }.get(reason, f"stalled: no new history for longer than its saga's alert_after (status {state.status.value})")
    log.warning(
        "%s: execution %s%s needs attention, %s",
        state.saga,
        state.id,
        key,
        why,
        extra={
            "event": "needs_attention",
            "reason": reason,
            "trace_id": trace_id_of(record.trace_context),
            "execution_id": state.id,
            "saga": state.saga,
            "key": record.business_key,
        },
    )


def rollback_reason(state: ExecutionState) -> str | None:
    """Why this execution rolled back: the step that failed and its error, or the cancel's reason."""
    error = state.error
    if error is None:
        return state.cancel_reason
    if error.step is None or error.message == state.cancel_reason:
        return error.message
    return f"step {error.step} failed: {error.message}"


def _message(saga: str, e: HistoryEvent, reason: str | None) -> str:
    where = "".join(f" {part}" for part in (e.direction.value if e.direction else None, e.step) if part)
    detail = f": {e.error}" if e.error else ""
    attempt = f" attempt {e.attempt}" if e.attempt else ""
    why = f": rolled back because {reason}" if reason is not None else ""
    return f"{saga}: {e.type}{where}{attempt}{detail}{why}"
