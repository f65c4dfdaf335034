"""An engine on in-memory parts only: the memory store, manual timers and clock, a scripted executor.

Nothing here opens a socket or a file, and nothing waits on real time: a test moves the clock,
opens gates, and lets the event loop run until the engine has nothing left to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordinator.core.history import HistoryEventType
from coordinator.core.machine import RESEND_MARGIN_MS
from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.engine import CallPool, Collaborators, DefinitionRegistry, Engine, EnvSecretSource, SagaService
from coordinator.engine.ownership import Ownership
from coordinator.ports import OutboundRequest, StepExecutor
from coordinator.store import MemoryStore
from coordinator.timers.manual import ManualClock, ManualTimers

OK = StepOutcome(kind=OutcomeKind.SUCCESS, status_code=200)
UNAVAILABLE = StepOutcome(kind=OutcomeKind.RETRYABLE, status_code=503, error="503 Service Unavailable")
REFUSED = StepOutcome(kind=OutcomeKind.FATAL, status_code=422, error="422 Unprocessable Content")
RETRY_DELAY_MS = 1_000
"""The fixed delay between attempts of the sagas below (no jitter)."""
_SETTLE_TURNS = 10_000


@dataclass
class Gate:
    """An answer held back until the test opens it: the call stays in flight meanwhile."""

    outcome: StepOutcome = OK
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    def open(self) -> None:
        """Let the held call return `outcome`."""
        self.opened.set()


Answer = StepOutcome | Gate


class ScriptedExecutor(StepExecutor):
    """Answers each attempt from a script, in order, per call: `"a"` is step a's action, `"undo a"` its compensation.

    A call without answers left succeeds. Every request is kept, in the order it was sent.
    """

    def __init__(self, script: Mapping[str, Sequence[Answer]] | None = None) -> None:
        self._script = {call: list(answers) for call, answers in (script or {}).items()}
        self.sent: list[OutboundRequest] = []
        self._holding: list[Gate] = []

    async def send(self, request: OutboundRequest) -> StepOutcome:
        """The next scripted answer for this call; a gate holds the call until it is opened."""
        self.sent.append(request)
        answers = self._script.get(call_name(request), [])
        answer = answers.pop(0) if answers else OK
        if isinstance(answer, StepOutcome):
            return answer
        answer.reached.set()
        self._holding.append(answer)
        try:
            await answer.opened.wait()
        finally:
            self._holding.remove(answer)
        return answer.outcome

    @property
    def held(self) -> int:
        """Calls waiting at a gate that is still closed."""
        return sum(1 for gate in self._holding if not gate.opened.is_set())

    def calls(self) -> list[str]:
        """The calls sent so far, by name."""
        return [call_name(r) for r in self.sent]

    def keys(self, call: str) -> list[str]:
        """The idempotency keys `call` was sent with."""
        return [r.headers["Idempotency-Key"] for r in self.sent if call_name(r) == call]


def call_name(request: OutboundRequest) -> str:
    """`a` for step a's action, `undo a` for its compensation."""
    step = request.headers["X-Saga-Step"]
    return f"undo {step}" if request.is_compensation else step


@dataclass
class Node:
    """One coordinator process: an engine over a (possibly shared) store, with its own timers and calls."""

    store: MemoryStore
    clock: ManualClock
    timers: ManualTimers
    executor: ScriptedExecutor
    calls: CallPool
    engine: Engine

    @property
    def service(self) -> SagaService:
        """What the API would call."""
        return self.engine.service

    async def settle(self) -> None:
        """Run the event loop until every call is done or held at a gate (no real time passes)."""
        for _ in range(_SETTLE_TURNS):
            if self.calls.count() == self.executor.held:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"the engine did not settle: {self.calls.count()} call(s) still running")

    async def pass_resend_hold(self, timeout_ms: int = 5_000) -> None:
        """Let the time pass that a taken-over call waits before it is sent again (the first send's
        timeout, the test sagas' 5 s, and the margin), then settle."""
        await self.timers.advance(timeout_ms + RESEND_MARGIN_MS)
        await self.settle()

    async def history(self, execution_id: str) -> list[HistoryEventType]:
        """The execution's history entry types, oldest first."""
        page = await self.store.list_events(execution_id, limit=1000)
        return [e.event.type for e in page.items]


class Nodes:
    """Makes processes for one test, and stops them all at its end (their calls held at gates too)."""

    def __init__(self) -> None:
        self._made: list[Node] = []

    def __call__(
        self,
        store: MemoryStore | None = None,
        script: Mapping[str, Sequence[Answer]] | None = None,
        *,
        clock: ManualClock | None = None,
    ) -> Node:
        """A process with a fresh engine; pass the `store` (and `clock`) of another to share its database."""
        made = _node(store, script, clock)
        self._made.append(made)
        return made

    async def close(self) -> None:
        """Stop every process made, newest first."""
        for made in reversed(self._made):
            await made.engine.close(grace_s=0)


def _node(store: MemoryStore | None, script: Mapping[str, Sequence[Answer]] | None, clock: ManualClock | None) -> Node:
    store = store or MemoryStore()
    clock = clock or ManualClock()
    timers = ManualTimers(clock)
    executor = ScriptedExecutor(script)
    calls = CallPool(limit=16)
    engine = Engine(
        Collaborators(
            store=store,
            registry=DefinitionRegistry(store, clock),
            executor=executor,
            timers=timers,
            clock=clock,
            secrets=EnvSecretSource(env={}),
            calls=calls,
            ownership=Ownership(lease_ms=60_000),
        )
    )
    return Node(store=store, clock=clock, timers=timers, executor=executor, calls=calls, engine=engine)


def three_steps(name: str = "trip") -> dict[str, Any]:
    """Steps a -> b -> c, each undone by a compensation; three attempts a second apart."""
    retry = {"max_attempts": 3, "initial_interval": f"{RETRY_DELAY_MS}ms", "jitter": "none"}
    return {
        "name": name,
        "steps": [
            {
                "name": step,
                "action": {"method": "POST", "url": f"http://participant.invalid/{step}", "timeout": "5s"},
                "compensation": {"method": "POST", "url": f"http://participant.invalid/{step}/undo"},
                "retry": retry,
                "compensation_retry": retry,
            }
            for step in ("a", "b", "c")
        ],
    }
