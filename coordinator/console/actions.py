"""Cancel, retry and resolve: each a confirmation page that says what will happen, then a CSRF-checked POST.

Only a viewer with the `admin` scope reaches them (the guard); the service decides whether the
action applies, and its refusal (409) is shown as it says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from coordinator.api.auth import ADMIN
from coordinator.api.params import MAX_NOTE, service_of
from coordinator.console.access import page_scope, state_of, viewer_of
from coordinator.console.pages import SECURITY_HEADERS, render
from coordinator.console.refusals import CsrfRejected, PageNotFound
from coordinator.console.session import CSRF_COOKIE, CSRF_FIELD
from coordinator.core.state import StepStatus
from coordinator.errors import InvalidInput, Problem
from coordinator.ports import ExecutionRecord


@dataclass(frozen=True, slots=True)
class Consequence:
    """What an action will do, in words, for the confirmation page."""

    title: str
    lines: list[str]


def _undo_order(record: ExecutionRecord) -> list[str]:
    """The steps whose effect stands or may, newest first: what a rollback would compensate."""
    standing = (
        StepStatus.SUCCEEDED,
        StepStatus.RUNNING,
        StepStatus.WAITING,
        StepStatus.COMPENSATING,
        StepStatus.COMPENSATION_FAILED,
    )
    return [s.name for s in reversed(record.state.steps) if s.status in standing]


def _consequence(action: str, record: ExecutionRecord) -> Consequence:
    state = record.state
    undo = ", ".join(_undo_order(record)) or "nothing yet"
    if action == "cancel":
        return Consequence(
            f"Cancel execution {state.id}?",
            [
                "No further step starts. A call in flight finishes first (it cannot be taken back mid-air).",
                f"Then the steps that took effect are compensated, newest first: {undo}.",
                "The execution ends compensated, or failed if a compensation cannot be done.",
            ],
        )
    if action == "retry":
        if record.quarantined:
            return Consequence(
                f"Release execution {state.id} from quarantine?",
                [
                    f"It was quarantined because: {record.quarantined}.",
                    "The coordinator takes it up again where it stopped.",
                ],
            )
        stuck = ", ".join(s.name for s in state.steps if s.status is StepStatus.COMPENSATION_FAILED) or "none"
        return Consequence(
            f"Retry the rollback of execution {state.id}?",
            [
                f"The compensations that failed ({stuck}) are tried again with a fresh retry budget,",
                f"then the rest of the rollback carries on, newest first: {undo}.",
                "Fix what made them fail first, or they will fail again.",
            ],
        )
    return Consequence(
        f"Resolve a compensation of execution {state.id} by hand?",
        [
            "You say the step's compensation was done outside the coordinator (a refund in a dashboard, say).",
            "It is recorded in the history with your note and your token's name, and not called again;",
            "the rollback then carries on with the steps before it.",
        ],
    )


def _resolvable(record: ExecutionRecord) -> list[str]:
    return [s.name for s in record.state.steps if s.status is StepStatus.COMPENSATION_FAILED]


_ACTIONS = "{action:str}"


class ExecutionActions(Controller):
    """`/ui/executions/{id}/cancel|retry|resolve`: confirm (GET), then act (POST)."""

    path = "/executions/{execution_id:str}"
    opt = page_scope(ADMIN)

    @get(f"/{_ACTIONS}")
    async def confirm(
        self, request: Request[Any, Any, Any], execution_id: FromPath[str], action: FromPath[str]
    ) -> Template:
        """The confirmation page: what will happen, and the button (a form carrying the CSRF token)."""
        _check_action(action)
        record = await service_of(request).execution(execution_id)
        context = {
            "record": record,
            "action": action,
            "consequence": _consequence(action, record),
            "resolvable": _resolvable(record),
            "max_note": MAX_NOTE,
            "actor": viewer_of(request).name,
        }
        return render(request, "confirm.html.j2", context)

    @post(f"/{_ACTIONS}", status_code=303)
    async def act(
        self, request: Request[Any, Any, Any], execution_id: FromPath[str], action: FromPath[str]
    ) -> Redirect:
        """Carry out a confirmed action, then back to the execution (303). Refused: a 403 or 409 page."""
        _check_action(action)
        form = await request.form()
        console = state_of(request)
        if not console.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), _text(form.get(CSRF_FIELD))):
            raise CsrfRejected
        service = service_of(request)
        if action == "cancel":
            await service.cancel(execution_id)
        elif action == "retry":
            await service.retry(execution_id)
        else:
            step, note = _text(form.get("step")).strip(), _text(form.get("note")).strip()
            if not step or not note or len(note) > MAX_NOTE:
                raise InvalidInput(
                    "invalid resolve request",
                    [Problem("note", f"name the step and say what was done by hand (1 to {MAX_NOTE} characters)")],
                )
            await service.resolve(execution_id, step, note=note, actor=viewer_of(request).name)
        return Redirect(f"/ui/executions/{execution_id}", status_code=303, headers=SECURITY_HEADERS)


def _check_action(action: str) -> None:
    if action not in ("cancel", "retry", "resolve"):
        raise PageNotFound(f"there is no action {action!r}; the actions are cancel, retry and resolve")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
