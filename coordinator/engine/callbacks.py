"""The callbacks and heartbeats participants send (SPEC section 7.3), applied through the cycle.

The token names the attempt (see `callback_tokens`); the verdict on what it may do is the pure
`core.waiting.callback_verdict`, judged before the event (no write for what changes nothing) and
after it (what was recorded, by this request or an identical one at the same moment).
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

from coordinator.core.events import CallbackReceived, HeartbeatReceived
from coordinator.core.state import CallbackOutcome, Direction
from coordinator.core.waiting import CallbackVerdict, callback_verdict
from coordinator.definition import call_secret_names
from coordinator.engine.callback_tokens import CallbackTarget
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.cycle import EventCycle
from coordinator.errors import (
    CallbackBodyTooLarge,
    CallbackConflict,
    CallbackNotFound,
    ExecutionNotFound,
    StoreUnavailable,
)
from coordinator.ports import ExecutionRecord
from coordinator.redaction import redact, redact_json, spellings

log = logging.getLogger("coordinator.engine")


class CallbackAnswer(StrEnum):
    """How a callback that changed nothing wrong is answered."""

    ACCEPTED = "accepted"
    """Recorded now (202)."""
    DUPLICATE = "duplicate"
    """The same outcome was recorded before (200)."""


class Callbacks:
    """Applies participants' callbacks and heartbeats to the attempts they were minted for."""

    def __init__(self, parts: Collaborators, cycle: EventCycle) -> None:
        self._parts = parts
        self._cycle = cycle

    async def report(
        self, token: str, outcome: CallbackOutcome | None, *, body: Any = None, error: str | None = None
    ) -> CallbackAnswer:
        """See `_report`; counts every answer (`saga_callbacks_total{outcome}`)."""
        observer = self._parts.observer
        if outcome is not None and body is not None:
            # The body becomes the step's response body: it is capped like a participant's answer.
            size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
            if size > self._parts.max_response_bytes:
                raise CallbackBodyTooLarge(size, self._parts.max_response_bytes)
        try:
            answer = await self._report(token, outcome, body=body, error=error)
        except CallbackNotFound:
            observer.callback_answered("not_found")
            raise
        except CallbackConflict as conflict:
            observer.callback_answered("superseded" if "superseded" in conflict.detail else "conflict")
            raise
        if answer is CallbackAnswer.DUPLICATE:
            observer.callback_answered("duplicate")
        else:
            observer.callback_answered("heartbeat" if outcome is None else outcome.value)
        return answer

    async def _report(
        self, token: str, outcome: CallbackOutcome | None, *, body: Any = None, error: str | None = None
    ) -> CallbackAnswer:
        """Record a callback (`outcome`) or a heartbeat (None) for the attempt `token` names.

        Raises CallbackNotFound for a token that is not ours or whose wait is over (alike), and
        CallbackConflict when another outcome was recorded or a newer attempt superseded it.
        """
        target = self._parts.callback_tokens.verify(token)
        if target is None:
            raise CallbackNotFound()  # before any database work: wrong tokens cost nothing
        try:
            record = await self._parts.store.load_execution(target.execution_id)
        except ExecutionNotFound:
            raise CallbackNotFound() from None
        verdict = self._verdict(record, target, outcome)
        if verdict is not CallbackVerdict.ACCEPT:
            return _answer(verdict)
        event: CallbackReceived | HeartbeatReceived
        if outcome is None:
            event = HeartbeatReceived(step=target.step, direction=target.direction, attempt=target.attempt)
        else:
            # Kept and shown like a participant's answer, so redacted like one: the secrets the
            # call was sent with, and the callback token itself, become `***`.
            forms = await self._secret_forms(record, target, token)
            event = CallbackReceived(
                step=target.step,
                direction=target.direction,
                attempt=target.attempt,
                outcome=outcome,
                body=redact_json(body, forms),
                error=redact(error, forms) if error is not None else None,
            )
        for _ in range(2):
            after = await self._cycle.handle(target.execution_id, event, external=True)
            await self._after_takeover(record, after)
            if outcome is None:
                return CallbackAnswer.ACCEPTED
            verdict = self._verdict(after, target, outcome)
            if verdict is CallbackVerdict.DUPLICATE:
                return CallbackAnswer.ACCEPTED  # recorded, by this request (or an identical one at once)
            if verdict is not CallbackVerdict.ACCEPT:
                return _answer(verdict)
            record = after  # not committed (a fenced write): decide again on what is stored
        raise StoreUnavailable("the callback could not be recorded just now; send it again")

    async def _secret_forms(self, record: ExecutionRecord, target: CallbackTarget, token: str) -> tuple[str, ...]:
        """Every spelling of the secrets the attempt's call read, and of its callback token."""
        spec = await self._parts.registry.spec(record.state.saga, record.state.version)
        step = spec.steps[target.step]
        call = step.action if target.direction is Direction.ACTION else step.compensation
        names = call_secret_names(call) if call is not None else frozenset()
        values = [value for value in map(self._parts.secrets, sorted(names)) if value]
        return spellings([*values, token])

    @staticmethod
    def _verdict(record: ExecutionRecord, target: CallbackTarget, outcome: CallbackOutcome | None) -> CallbackVerdict:
        return callback_verdict(record.state, target.step, target.direction, target.attempt, outcome)

    async def _after_takeover(self, before: ExecutionRecord, after: ExecutionRecord) -> None:
        """A callback to a replica that did not drive the execution takes it over (nothing was in
        flight): the wake-ups the previous owner had armed are armed here now."""
        me = self._parts.ownership.owner_id
        if after.owner == me and before.owner != me and not after.state.status.is_terminal:
            await self._cycle.rearm(after.state.id)


def _answer(verdict: CallbackVerdict) -> CallbackAnswer:
    match verdict:
        case CallbackVerdict.DUPLICATE:
            return CallbackAnswer.DUPLICATE
        case CallbackVerdict.CONFLICT:
            raise CallbackConflict("a different outcome was already recorded for this attempt")
        case CallbackVerdict.SUPERSEDED:
            raise CallbackConflict("this attempt was superseded by a newer one: its callback changes nothing")
        case CallbackVerdict.EXPIRED | CallbackVerdict.ACCEPT:
            raise CallbackNotFound()
