"""The exceptions the client raises; every problem+json answer becomes one of these.

SagaError
├── Unreachable                    no answer: connection refused or broken, timeout
├── UnexpectedResponse             an answer that is not the coordinator's (not JSON, wrong shape)
├── ApiError                       a problem+json answer: status, code, title, detail, problems
│   ├── BadRequest (400)           malformed JSON, bad parameter
│   ├── Unauthorized (401) · Forbidden (403) · PayloadTooLarge (413)
│   ├── NotFound (404)             SagaNotFound, SagaVersionNotFound, ExecutionNotFound
│   ├── Conflict (409)             DefinitionConflict, IdempotencyConflict, ExecutionStateConflict
│   ├── InvalidInput (422)         DefinitionInvalid, ExecutionInputInvalid (with `problems`)
│   └── ServerError (5xx)          StoreUnavailable (503, with `retry_after`)
├── WaitTimeout                    `result(timeout)`: still running when the time ran out
└── SagaDidNotComplete             `result()`: SagaCompensated, SagaFailed (with `execution`)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coordinator.client.models import Execution, Problem

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "DefinitionConflict",
    "DefinitionInvalid",
    "ExecutionInputInvalid",
    "ExecutionNotFound",
    "ExecutionStateConflict",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "SagaCompensated",
    "SagaDidNotComplete",
    "SagaError",
    "SagaFailed",
    "SagaNotFound",
    "SagaVersionNotFound",
    "ServerError",
    "StoreUnavailable",
    "Unauthorized",
    "UnexpectedResponse",
    "Unreachable",
    "WaitTimeout",
    "error_from_answer",
]


class SagaError(Exception):
    """Base of everything this client raises."""


class Unreachable(SagaError):
    """The coordinator could not be reached, or the connection broke or timed out before an answer."""


class UnexpectedResponse(SagaError):
    """An answer that is not what the coordinator sends (wrong URL, a proxy's error page, ...)."""


class ApiError(SagaError):
    """The coordinator refused the request with a problem+json answer (RFC 9457).

    Attributes:
        status: the HTTP status.
        code: the stable machine-readable code, e.g. `saga_not_found`.
        title: a short summary of the kind of problem.
        detail: what went wrong, for people.
        problems: for validation errors, every problem with its JSON path.
        retry_after: seconds from a `Retry-After` header, if the answer had one.
        body: the problem document as received.
    """

    status_code: int | None = None
    """The status this class stands for (None for the base class)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        problems: tuple[Problem, ...] = (),
        *,
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}" if detail else f"{status} {code}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.problems = problems
        self.retry_after = retry_after
        self.body: Mapping[str, Any] = body or {}


class BadRequest(ApiError):
    """400: the request could not be read (malformed JSON, a bad query parameter)."""

    status_code = 400


class Unauthorized(ApiError):
    """401: a valid `Authorization: Bearer <token>` is required (see `SAGA_TOKEN`)."""

    status_code = 401


class Forbidden(ApiError):
    """403: the token is not allowed to do this."""

    status_code = 403


class NotFound(ApiError):
    """404: what the request names does not exist."""

    status_code = 404


class SagaNotFound(NotFound):
    """No saga is registered under the name."""


class SagaVersionNotFound(NotFound):
    """The saga exists, but not in that version."""


class ExecutionNotFound(NotFound):
    """No execution has the id."""


class Conflict(ApiError):
    """409: the request contradicts what is already recorded."""

    status_code = 409


class DefinitionConflict(Conflict):
    """That name and version are registered with another body; versions are immutable."""


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before with a different request."""


class ExecutionStateConflict(Conflict):
    """The operator action does not apply now (cancel a terminal execution, retry one not `failed`)."""


class PayloadTooLarge(ApiError):
    """413: the body is over the coordinator's limit (`SAGA_MAX_BODY_BYTES`)."""

    status_code = 413


class InvalidInput(ApiError):
    """422: the request parses but is wrong; `problems` lists every problem with its path."""

    status_code = 422


class DefinitionInvalid(InvalidInput):
    """The saga definition failed validation; `problems` has each problem's JSON path and message."""


class ExecutionInputInvalid(InvalidInput):
    """The start input does not match the saga's `input_schema`."""


class ServerError(ApiError):
    """5xx: the coordinator failed; the request may be tried again later."""

    status_code = 500


class StoreUnavailable(ServerError):
    """503: the coordinator's database cannot be reached right now (see `retry_after`)."""

    status_code = 503


class WaitTimeout(SagaError, TimeoutError):
    """The execution was not terminal when the wait ended; `execution` is its latest state."""

    def __init__(self, execution: Execution, timeout: float) -> None:
        super().__init__(f"execution {execution.id} is still {execution.status} after {timeout:g}s")
        self.execution = execution


class SagaDidNotComplete(SagaError):
    """The execution ended without completing; `execution.error` says which step failed and why."""

    def __init__(self, execution: Execution) -> None:
        reason = f": {execution.error}" if execution.error else ""
        super().__init__(f"execution {execution.id} of {execution.saga} ended {execution.status}{reason}")
        self.execution = execution


class SagaCompensated(SagaDidNotComplete):
    """Rolled back cleanly: every step that took effect was undone."""


class SagaFailed(SagaDidNotComplete):
    """A compensation failed for good: something may still be in effect; an operator must act."""


_BY_CODE: dict[str, type[ApiError]] = {
    "saga_not_found": SagaNotFound,
    "saga_version_not_found": SagaVersionNotFound,
    "execution_not_found": ExecutionNotFound,
    "definition_conflict": DefinitionConflict,
    "idempotency_conflict": IdempotencyConflict,
    "execution_state_conflict": ExecutionStateConflict,
    "definition_invalid": DefinitionInvalid,
    "execution_input_invalid": ExecutionInputInvalid,
    "store_unavailable": StoreUnavailable,
    "storage_full": StoreUnavailable,  # the database's disk is full: the same "retry later" to a client
}
_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status_code: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, InvalidInput)
    if cls.status_code is not None
}


def error_from_answer(status: int, body: Any, retry_after: float | None = None) -> ApiError:
    """The exception for an error answer: by `code` first, then by status.

    Args:
        status: the HTTP status (>= 400).
        body: the decoded problem document, or anything else the server sent (a proxy's text).
        retry_after: seconds from the `Retry-After` header.
    """
    from coordinator.client.models import Problem

    document: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code = str(document.get("code") or f"http_{status}")
    title = str(document.get("title") or "Error")
    detail = str(document.get("detail") or (body if isinstance(body, str) else "") or "")[:2000]
    problems = tuple(
        Problem(path=str(e.get("path", "$")), message=str(e.get("message", "")))
        for e in document.get("errors") or ()
        if isinstance(e, Mapping)
    )
    cls = _BY_CODE.get(code)
    if cls is None or not issubclass(cls, _status_class(status)):
        cls = _status_class(status)  # a code we do not know, or one that contradicts the status
    return cls(status, code, title, detail, problems, retry_after=retry_after, body=document)


def _status_class(status: int) -> type[ApiError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError
