"""`/v1/callbacks/{token}`: asynchronous participants report an attempt's outcome (SPEC section 7.3).

Outside the bearer-token guard: the token in the path is the capability, minted for one attempt
(execution, step, direction, attempt) and sent in that call's `X-Saga-Callback-Url` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar import Controller, Request, Response, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody

from coordinator.api.params import service_of, strict_fields
from coordinator.api.problems import problem_responses
from coordinator.core.state import CallbackOutcome
from coordinator.engine.callbacks import CallbackAnswer
from coordinator.errors import InvalidInput, Problem

MAX_CALLBACK_ERROR = 4000
"""The longest `error` text kept: it becomes the execution's error message."""


@dataclass
class CallbackRequest:
    """Body of `POST /v1/callbacks/{token}`."""

    outcome: Literal["succeeded", "failed"]
    """`succeeded`: the step completes, `body` is its response body; `failed`: the step failed for good."""
    body: Any = None
    """Any JSON: what later steps read as `steps.<name>.response.body` (on success)."""
    error: str | None = None
    """On failure: why, shown in the execution's error."""


@dataclass
class CallbackAnswerView:
    """What a callback or heartbeat did."""

    status: Literal["accepted", "duplicate"]
    """`accepted` (202): recorded now; `duplicate` (200): the same outcome was recorded before."""


_DUPLICATE = ResponseSpec(
    data_container=CallbackAnswerView,
    description="The same outcome was already recorded for this attempt (a repeat changes nothing)",
    generate_examples=False,
)
_EXAMPLE = '{"outcome": "succeeded", "body": {"charge_id": "ch_1"}}'


class CallbackController(Controller):
    """Callbacks of asynchronous participants: no bearer token, the path's token is the capability."""

    path = "/v1/callbacks"
    tags = ["callbacks"]  # Litestar reads it as a class attribute

    @post(
        "/{token:str}",
        status_code=202,
        summary="Report the outcome of an asynchronous step (the URL of X-Saga-Callback-Url)",
        responses={200: _DUPLICATE, **problem_responses(404, 409, 413, 422, 503)},
        security=[],
    )
    async def complete(
        self, request: Request[Any, Any, Any], token: FromPath[str], data: JSONBody[CallbackRequest]
    ) -> Response[CallbackAnswerView]:
        """202 recorded; 200 the same outcome was already recorded; 409 another outcome was, or the
        attempt was superseded by a newer one (nothing changes); 404 an unknown or expired token."""
        problems = strict_fields(await request.json(), CallbackRequest, example=_EXAMPLE)
        if data.error is not None and len(data.error) > MAX_CALLBACK_ERROR:
            problems.append(Problem("error", f"at most {MAX_CALLBACK_ERROR} characters"))
        if problems:
            raise InvalidInput("invalid callback", problems)
        outcome = CallbackOutcome(data.outcome)
        answer = await service_of(request).callback(token, outcome, body=data.body, error=data.error)
        return _answered(answer)

    @post(
        "/{token:str}/heartbeat",
        status_code=202,
        summary="Say an asynchronous step is still being worked on",
        responses=problem_responses(404, 409, 503),
        security=[],
    )
    async def heartbeat(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Response[CallbackAnswerView]:
        """202: the heartbeat deadline moves on (never past the step's `async.timeout`); 409 when an
        outcome is recorded or the attempt was superseded; 404 an unknown or expired token."""
        answer = await service_of(request).callback(token, None)
        return _answered(answer)


def _answered(answer: CallbackAnswer) -> Response[CallbackAnswerView]:
    if answer is CallbackAnswer.DUPLICATE:
        return Response(CallbackAnswerView(status="duplicate"), status_code=200)
    return Response(CallbackAnswerView(status="accepted"), status_code=202)
