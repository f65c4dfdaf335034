"""After commit: carry out the machine's actions (calls and wake-ups)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from coordinator.core.actions import Action, ArmWakeup, CallStep, DisarmWakeup
from coordinator.core.events import AttemptCompleted, Event, WakeupFired
from coordinator.core.keys import wakeup_key
from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.core.spec import SagaSpec
from coordinator.core.state import Direction
from coordinator.definition import TemplateError, build_context, render_request
from coordinator.engine.callback_tokens import CALLBACK_URL_HEADER, CallbackTarget
from coordinator.engine.collaborators import Collaborators
from coordinator.ports import ExecutionRecord, OutboundRequest

log = logging.getLogger("coordinator.engine")

EventSink = Callable[[str, Event], Awaitable[object]]


class Dispatcher:
    """Runs each `CallStep` as a task and feeds its outcome back; arms and disarms wake-ups."""

    def __init__(self, parts: Collaborators, *, sink: EventSink, on_stall: Callable[[str], None]) -> None:
        self._parts = parts
        self._sink = sink
        self._on_stall = on_stall
        self._draining = False
        self._sending: dict[str, set[tuple[int, Direction, int]]] = {}
        """Per execution, the calls (step, direction, attempt) whose task has not yet delivered its outcome."""

    def sending(self, execution_id: str) -> frozenset[tuple[int, Direction, int]]:
        """The calls of `execution_id` this process is sending, or whose outcome it has yet to apply."""
        return frozenset(self._sending.get(execution_id, ()))

    def dispatch(self, record: ExecutionRecord, spec: SagaSpec, actions: tuple[Action, ...]) -> None:
        """Start every action; none of them blocks the caller."""
        execution_id = record.state.id
        for action in actions:
            match action:
                case CallStep() if self._draining:
                    # Shutting down: the attempt stays recorded as started and our lease is
                    # released, so the next owner sends it under the same key.
                    log.info("shutting down: leaving %s to the next owner", action.idempotency_key)
                case CallStep():
                    identity = (action.step, action.direction, action.attempt)
                    sending = self._sending.setdefault(execution_id, set())
                    if identity in sending:
                        continue  # already on its way here: a second copy would overlap it
                    sending.add(identity)
                    call = functools.partial(self._call, record, spec, action)
                    if action.started_at_ms > self._parts.clock.now_ms():
                        # A re-send held until the cut-off first send is surely over (`decide`'s
                        # resume); it counts as on its way, so no sweep sends a copy meanwhile.
                        self._parts.timers.arm(
                            f"resend:{action.idempotency_key}", action.started_at_ms, self._spawner(call)
                        )
                    else:
                        self._parts.calls.spawn(call, name=f"call {execution_id}")
                case ArmWakeup():
                    event = WakeupFired(step=action.step, direction=action.direction, attempt=action.attempt)
                    key = wakeup_key(execution_id, action.step, action.direction)
                    self._parts.timers.arm(key, action.due_at_ms, self._wakeup(execution_id, event))
                case DisarmWakeup():
                    self._parts.timers.disarm(wakeup_key(execution_id, action.step, action.direction))

    def _spawner(self, call: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def spawn() -> None:
            if self._draining:
                return  # the attempt stays recorded as started: the next owner sends it
            self._parts.calls.spawn(call, name="held re-send")

        return spawn

    def _wakeup(self, execution_id: str, event: WakeupFired) -> Callable[[], Awaitable[None]]:
        async def fire() -> None:
            await self._deliver(execution_id, event)

        return fire

    async def _deliver(self, execution_id: str, event: Event) -> None:
        try:
            await self._sink(execution_id, event)
        except Exception:
            # The action stays pending in the database; the next sweep drives it again.
            self._on_stall(execution_id)
            log.exception("could not apply %s to execution %s", type(event).__name__, execution_id)

    async def _call(self, record: ExecutionRecord, spec: SagaSpec, action: CallStep) -> None:
        try:
            await self._send_and_deliver(record, spec, action)
        finally:
            # Only now, with the outcome applied (or the execution stalled), may a re-drive send it again.
            execution_id = record.state.id
            sending = self._sending.get(execution_id)
            if sending is not None:
                sending.discard((action.step, action.direction, action.attempt))
                if not sending:
                    del self._sending[execution_id]

    async def _send_and_deliver(self, record: ExecutionRecord, spec: SagaSpec, action: CallStep) -> None:
        faults = self._parts.faults
        if not self._parts.ownership.may_send():
            # Our leases may have been taken over (a pause, a database outage): send nothing.
            # The attempt stays recorded as started; whoever owns the execution re-sends it.
            log.warning("not sending %s of %s: leases not renewed in time", action.idempotency_key, record.state.id)
            self._on_stall(record.state.id)
            return
        faults.hit("before_send", execution_id=record.state.id, saga=record.state.saga)
        outcome = await self._attempt(record, spec, action)
        faults.hit("after_response", execution_id=record.state.id, saga=record.state.saga)
        event = AttemptCompleted(step=action.step, direction=action.direction, attempt=action.attempt, outcome=outcome)
        await self._deliver(record.state.id, event)

    async def _attempt(self, record: ExecutionRecord, spec: SagaSpec, action: CallStep) -> StepOutcome:
        """Render and send one attempt. The executor redacts the request's secrets from the outcome."""
        state = record.state
        step = spec.steps[action.step]
        is_compensation = action.direction is Direction.COMPENSATION
        call = step.compensation if is_compensation else step.action
        assert call is not None  # the machine compensates only steps that have a compensation
        context = build_context(
            execution_id=state.id,
            saga=state.saga,
            version=state.version,
            input=record.input,
            responses={s.name: s.response.as_context() for s in state.steps if s.response},
            secrets=self._parts.secrets,
        )
        try:
            rendered = render_request(call, context)
        except TemplateError as error:
            return StepOutcome(kind=OutcomeKind.INVALID, error=f"template error: {error}")
        trace = self._parts.traces.attempt(record, step.name, action.direction, action.attempt)
        headers = {
            **rendered.headers,
            "Idempotency-Key": action.idempotency_key,
            "X-Saga-Execution-Id": state.id,
            "X-Saga-Step": action.step_name,
            "X-Saga-Coordinator": self._parts.ownership.owner_id,
        }
        redact = rendered.secret_values
        if call.async_ is not None:
            # A capability for this attempt alone; like a secret, it is `***` in all that is kept.
            tokens = self._parts.callback_tokens
            token = tokens.mint(
                CallbackTarget(
                    execution_id=state.id, step=action.step, direction=action.direction, attempt=action.attempt
                )
            )
            headers[CALLBACK_URL_HEADER] = tokens.url(token)
            redact = redact | {token}
        request = OutboundRequest(
            method=rendered.method,
            url=rendered.url,
            headers=headers,
            body=rendered.body,
            # What is left of the attempt's time: its deadline counts from the write-ahead.
            timeout_ms=action.started_at_ms + action.timeout_ms - self._parts.clock.now_ms(),
            call=call,
            is_compensation=is_compensation,
            trace_carrier=trace.carrier,
            span_attributes=trace.attributes,
            redact=redact,
        )
        return await self._parts.executor.send(request)

    async def close(self, grace_s: float = 0.0) -> None:
        """Start no new call; let the calls in flight finish for up to `grace_s`, then cancel the rest.

        A finished call's outcome is committed as usual. A cancelled one stays recorded as started,
        and whoever owns the execution next re-sends it under the same idempotency key.
        """
        self._draining = True
        await self._parts.calls.drain(grace_s)
