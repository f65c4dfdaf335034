"""Every error leaves the API as `application/problem+json` (RFC 9457), mapped here and only here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec

from coordinator.api.schemas import ProblemView
from coordinator.errors import (
    CallbackBodyTooLarge,
    Conflict,
    CoordinatorError,
    InvalidInput,
    NotFound,
    StaleRevision,
    StorageFull,
    StoreUnavailable,
)
from coordinator.redaction import CALLBACK_PATH, redact_callback_path

log = logging.getLogger("coordinator.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

_STATUS_BY_CLASS: list[tuple[type[CoordinatorError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (StaleRevision, 409),
    (CallbackBodyTooLarge, 413),
    (InvalidInput, 422),
    (StorageFull, 503),
    (StoreUnavailable, 503),
]


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """A problem+json response; `code` is stable for programs, `detail` is for people."""
    content: dict[str, Any] = {
        "type": f"urn:saga-coordinator:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        content["errors"] = errors
    content.update(extensions or {})
    return Response(content=content, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def coordinator_error_handler(_: Request[Any, Any, Any], exc: CoordinatorError) -> Response[dict[str, Any]]:
    """Our domain errors, by class."""
    status = next((s for cls, s in _STATUS_BY_CLASS if isinstance(exc, cls)), 500)
    errors = [{"path": p.path, "message": p.message} for p in exc.problems] if isinstance(exc, InvalidInput) else None
    headers = {"Retry-After": "5"} if isinstance(exc, StoreUnavailable) else None
    return problem(status, exc.title, exc.detail, code=exc.code, errors=errors, headers=headers)


def _validation_errors(exc: ValidationException) -> tuple[list[dict[str, str]], bool]:
    """Litestar's validation details as `{path, message}`; and whether they concern the body."""
    errors: list[dict[str, str]] = []
    in_body = False
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        source = str(item.get("source", ""))
        in_body = in_body or source == "body"
        key = str(item.get("key", "")) or source or "$"
        errors.append({"path": key, "message": str(item.get("message", "invalid value"))})
    return errors, in_body


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own HTTP errors (unknown route, bad method, body too large, bad parameters)."""
    if request.url.path.startswith(CALLBACK_PATH) and exc.status_code == 400:
        # Participants are told 422 for any body they got wrong, JSON syntax included (SPEC 7.3).
        errors = _validation_errors(exc)[0] if isinstance(exc, ValidationException) else []
        return problem(422, "Invalid request body", exc.detail, code="invalid_body", errors=errors)
    if isinstance(exc, ValidationException):
        errors, in_body = _validation_errors(exc)
        malformed = "malformed" in exc.detail.lower() or "decode" in exc.detail.lower()
        if in_body and not malformed:
            return problem(422, "Invalid request body", exc.detail, code="invalid_body", errors=errors)
        return problem(400, "Bad request", exc.detail, code="bad_request", errors=errors)
    status = exc.status_code
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
    }
    detail = exc.detail
    if status == 413:
        detail = "the request body is larger than the limit (SAGA_MAX_BODY_BYTES)"
    headers = {k: v for k, v in (exc.headers or {}).items()}
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    extensions = {"scope": str(extra["scope"])} if status == 403 and "scope" in extra else None
    return problem(
        status,
        _title(status),
        detail,
        code=codes.get(status, f"http_{status}"),
        headers=headers or None,
        extensions=extensions,
    )


def too_deep_handler(_: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """A body nested deeper than the JSON decoder can follow (it recurses): the client's input."""
    return problem(400, "Bad request", "the request body is nested too deeply", code="bad_request")


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A fault of ours: log it with its traceback, answer without internals."""
    path = redact_callback_path(request.url.path)  # a callback token is a capability: never logged
    log.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    return problem(500, "Internal error", "the coordinator failed to handle this request", code="internal_error")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem+json answers an operation may give."""
    return {
        status: ResponseSpec(
            data_container=ProblemView,
            media_type=PROBLEM_MEDIA_TYPE,
            description=_title(status),
            generate_examples=False,
        )
        for status in statuses
    }


EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
    CoordinatorError: coordinator_error_handler,
    HTTPException: http_error_handler,
    RecursionError: too_deep_handler,
    Exception: internal_error_handler,
}
