"""After commit: carry out the machine's actions (calls and wake-ups)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from coordinator.core.actions import Action, ArmWakeup, CallStep, DisarmWakeup
from coordinator.core.events import AttemptCompleted, Event, WakeupFired
from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.core.spec import SagaSpec
from coordinator.core.state import Direction
from coordinator.definition import TemplateError, build_context, render_request
from coordinator.engine.faults import NO_FAULTS, FaultPoints
from coordinator.engine.secrets import SecretSource
from coordinator.ports import ExecutionRecord, OutboundRequest, StepExecutor, TimerService
from coordinator.telemetry import saga_attributes, step_carrier, step_round, step_span_id

log = logging.getLogger("coordinator.engine")

EventSink = Callable[[str, Event], Awaitable[object]]


def _redact(text: str | None, secrets: frozenset[str]) -> str | None:
    if text is None:
        return None
    for value in secrets:
        text = text.replace(value, "***")
    return text


class Dispatcher:
    """Runs each `CallStep` as a task and feeds its outcome back; arms and disarms wake-ups."""

    def __init__(
        self,
        *,
        executor: StepExecutor,
        timers: TimerService,
        secrets: SecretSource,
        sink: EventSink,
        may_send: Callable[[], bool] = lambda: True,
        on_stall: Callable[[str], None] = lambda _: None,
        faults: FaultPoints = NO_FAULTS,
        coordinator_id: str = "",
        max_calls: int = 200,
    ) -> None:
        self._executor = executor
        self._coordinator_id = coordinator_id
        self._timers = timers
        self._secrets = secrets
        self._sink = sink
        self._may_send = may_send
        self._on_stall = on_stall
        self._faults = faults
        self._tasks: set[asyncio.Task[None]] = set()
        self._draining = False
        # At most as many calls as the client has connections: beyond that the client's pool
        # queues them, where they would wait with their timeouts running (and httpcore's pool,
        # our earlier transport, spent 97 % of the CPU on that queue's bookkeeping).
        self._slots = asyncio.Semaphore(max_calls)

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
                    task = asyncio.create_task(self._call(record, spec, action), name=f"call {execution_id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                case ArmWakeup():
                    event = WakeupFired(step=action.step, direction=action.direction, attempt=action.attempt)
                    self._timers.arm(execution_id, action.due_at_ms, self._wakeup(execution_id, event))
                case DisarmWakeup():
                    self._timers.disarm(execution_id)

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
        async with self._slots:
            await self._call_in_slot(record, spec, action)

    async def _call_in_slot(self, record: ExecutionRecord, spec: SagaSpec, action: CallStep) -> None:
        if not self._may_send():
            # Our leases may have been taken over (a pause, a database outage): send nothing.
            # The attempt stays recorded as started; whoever owns the execution re-sends it.
            log.warning("not sending %s of %s: leases not renewed in time", action.idempotency_key, record.state.id)
            self._on_stall(record.state.id)
            return
        self._faults.hit("before_send", execution_id=record.state.id, saga=record.state.saga)
        outcome = await self._attempt(record, spec, action)
        self._faults.hit("after_response", execution_id=record.state.id, saga=record.state.saga)
        event = AttemptCompleted(
            step=action.step, direction=action.direction, attempt=action.attempt, outcome=outcome
        )
        await self._deliver(record.state.id, event)

    async def _attempt(self, record: ExecutionRecord, spec: SagaSpec, action: CallStep) -> StepOutcome:
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
            secrets=self._secrets,
        )
        try:
            rendered = render_request(call, context)
        except TemplateError as error:
            return StepOutcome(kind=OutcomeKind.INVALID, error=f"template error: {error}")
        round_ = step_round(record, step.name, action.direction)
        span_id = step_span_id(state.id, step.name, action.direction.value, round_)
        headers = {
            **rendered.headers,
            "Idempotency-Key": action.idempotency_key,
            "X-Saga-Execution-Id": state.id,
            "X-Saga-Step": action.step_name,
            "X-Saga-Coordinator": self._coordinator_id,
        }
        request = OutboundRequest(
            method=rendered.method,
            url=rendered.url,
            headers=headers,
            body=rendered.body,
            timeout_ms=action.timeout_ms,
            call=call,
            is_compensation=is_compensation,
            trace_carrier=step_carrier(record.trace_context, span_id),
            span_attributes={
                **saga_attributes(record),
                "saga.step": step.name,
                "saga.direction": action.direction.value,
                "saga.attempt": action.attempt,
            },
            redact=rendered.secret_values,
        )
        outcome = await self._executor.send(request)
        if rendered.secret_values and outcome.error:
            # A participant may echo a header back in its error; secrets never reach the history.
            outcome = StepOutcome(
                kind=outcome.kind,
                effect_unknown=outcome.effect_unknown,
                status_code=outcome.status_code,
                error=_redact(outcome.error, rendered.secret_values),
                retry_after_ms=outcome.retry_after_ms,
                response=outcome.response,
                duration_ms=outcome.duration_ms,
            )
        return outcome

    @property
    def in_flight(self) -> int:
        """Calls currently being sent."""
        return len(self._tasks)

    async def close(self, grace_s: float = 0.0) -> None:
        """Start no new call; let the calls in flight finish for up to `grace_s`, then cancel the rest.

        A finished call's outcome is committed as usual. A cancelled one stays recorded as started,
        and whoever owns the execution next re-sends it under the same idempotency key.
        """
        self._draining = True
        if self._tasks and grace_s > 0:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
