"""What every example service shares: Stripe-style idempotency, a request ledger, a state view.

A participant in a saga must tolerate the coordinator's at-least-once delivery: after a timeout or a
restart the coordinator sends the same call again under the same `Idempotency-Key`
(`<execution_id>:<step>:<action|compensation>`). So, like Stripe, the first request with a key runs
the business logic and stores its response; a repeat with that key gets the stored response back and
changes nothing.

A service declares its endpoints as plain functions from a `Call` to a `Reply`::

    service = Participant("inventory")

    @service.endpoint("POST", "/reservations")
    def reserve(call: Call) -> Reply:
        ...
        return Reply(201, {"reservation_id": ...})

    app = service.app(state=lambda: {"reservations": reservations})

and gets, for free, the idempotency handling and three inspection routes used by the demo and tests:
`GET /_ledger` (every request received), `DELETE /_ledger` (forget them) and `GET /_state`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from litestar import Litestar, Request, Response, delete, get, route
from litestar.handlers import HTTPRouteHandler
from litestar.types import Method

from coordinator.client import CALLBACK_HEADER
from saga_examples.deferred import Deferred

T = TypeVar("T")

Effect = Callable[["Call"], "Reply"]

_JSON_TYPES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
}


class BadRequest(Exception):
    """The request is malformed. Answered 400 and, like Stripe, not remembered under its key."""


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the business logic sees it: the JSON body, the path parameters, the key."""

    body: Any
    params: dict[str, Any]
    idempotency_key: str | None
    callback_url: str | None = None
    """The `X-Saga-Callback-Url` header: set when the saga declares the step `async:` (see `deferred`)."""

    def require(self, name: str, kind: type[T]) -> T:
        """A required body field of JSON type `kind` (str, int, float, list, dict), else a 400."""
        value = self.body.get(name) if isinstance(self.body, dict) else None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # JSON has one number type: 100 is a fine amount
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise BadRequest(f"body field {name!r} must be {_JSON_TYPES.get(kind, kind.__name__)}")
        return value

    def optional(self, name: str, default: Any = None) -> Any:
        """An optional body field, or `default` when absent."""
        if isinstance(self.body, dict) and self.body.get(name) is not None:
            return self.body[name]
        return default


@dataclass(frozen=True, slots=True)
class Reply:
    """What an endpoint answers. `applied` says whether the business state changed."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool | None = None
    """None means "a 2xx applied something"; set it when that rule is wrong (reads, no-ops)."""

    @property
    def changed_state(self) -> bool:
        """Whether this reply reflects an effect that was applied."""
        return self.applied if self.applied is not None else 200 <= self.status < 300

    @property
    def storable(self) -> bool:
        """Whether a repeat of the request should get this reply back.

        Not a 5xx: a transient failure must let the client's retry run the logic again (that is
        what makes retrying worthwhile). A business refusal (402, 409, 422) is final and replayed.
        """
        return self.status < 500


@dataclass(slots=True)
class LedgerEntry:
    """One request the service received, as served at `GET /_ledger`."""

    at: float
    """When it arrived, epoch milliseconds."""
    method: str
    path: str
    idempotency_key: str | None
    execution_id: str | None
    step: str | None
    status: int
    applied: bool
    replayed: bool
    """The response came from the idempotency store: the logic did not run."""


@dataclass(frozen=True, slots=True)
class _Stored:
    """A remembered response with the request it answered, to detect a key reused for another."""

    fingerprint: tuple[str, str, Any]
    reply: Reply


def new_id(prefix: str) -> str:
    """A short, readable, unique id such as `res_3f9a1c0b2d4e`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class Participant:
    """The idempotency store, the ledger and the routes of one example service."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ledger: list[LedgerEntry] = []
        self._responses: dict[str, _Stored] = {}
        self._handlers: list[HTTPRouteHandler] = []
        # EXAMPLES_LATENCY_MS slows every business call down, to watch a saga progress in the demo
        # or to provoke the coordinator's per-attempt timeout.
        self.latency_ms = float(os.environ.get("EXAMPLES_LATENCY_MS", "0") or 0)
        self.deferred = Deferred()
        """Work answered with 202 and reported to the coordinator's callback URL later."""

    def endpoint(self, method: Method, path: str) -> Callable[[Effect], Effect]:
        """Register `effect` as the business logic of `method path`, behind the idempotency layer."""

        def register(effect: Effect) -> Effect:
            async def handler(request: Request[Any, Any, Any]) -> Response[Any]:
                return await self._handle(request, effect)

            # status_code only matters to Litestar's checks: the Reply decides the real one.
            self._handlers.append(
                route(path, http_method=[method], name=f"{self.name}.{effect.__name__}", status_code=200)(handler)
            )
            return effect

        return register

    def app(self, state: Callable[[], Any]) -> Litestar:
        """The Litestar app: the registered endpoints plus `/_ledger` and `/_state`."""

        @get("/_ledger", sync_to_thread=False)
        def read_ledger() -> list[dict[str, Any]]:
            return [asdict(entry) for entry in self.ledger]

        @delete("/_ledger", status_code=200, sync_to_thread=False)
        def clear_ledger() -> dict[str, int]:
            cleared = len(self.ledger)
            self.ledger.clear()
            return {"cleared": cleared}

        @get("/_state", sync_to_thread=False)
        def read_state() -> Any:
            return state()

        return Litestar(
            route_handlers=[*self._handlers, read_ledger, clear_ledger, read_state],
            logging_config=None,  # the host process owns logging
            on_shutdown=[self.deferred.close],
        )

    async def _handle(self, request: Request[Any, Any, Any], effect: Effect) -> Response[Any]:
        arrived_ms = time.time() * 1000
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        # From here on nothing awaits, so check-then-store cannot interleave with another request
        # carrying the same key: the event loop runs this block atomically.
        reply, replayed = self._respond(request, raw, key, effect)
        callback_url = request.headers.get(CALLBACK_HEADER)
        if replayed and key is not None and callback_url:
            # A new attempt of an asynchronous call: its outcome goes to the new callback URL.
            self.deferred.retarget(key, callback_url)
        self.ledger.append(
            LedgerEntry(
                at=arrived_ms,
                method=request.method,
                path=request.url.path,
                idempotency_key=key,
                execution_id=request.headers.get("x-saga-execution-id"),
                step=request.headers.get("x-saga-step"),
                status=reply.status,
                applied=reply.changed_state and not replayed,
                replayed=replayed,
            )
        )
        headers = {**reply.headers, **({"Idempotent-Replayed": "true"} if replayed else {})}
        return Response(content=reply.body, status_code=reply.status, headers=headers)

    def _respond(
        self, request: Request[Any, Any, Any], raw: bytes, key: str | None, effect: Effect
    ) -> tuple[Reply, bool]:
        """The reply to send and whether it is a replay of a stored one."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return Reply(400, {"detail": "the body is not valid JSON"}), False
        # Reads change nothing, so (like Stripe) keys only matter on writes.
        use_key = key if request.method != "GET" else None
        fingerprint = (request.method, request.url.path, body)
        if use_key is not None and (stored := self._responses.get(use_key)) is not None:
            if stored.fingerprint != fingerprint:
                detail = f"Idempotency-Key {use_key!r} was already used for a different request"
                return Reply(422, {"detail": detail}), False
            return stored.reply, True
        try:
            call = Call(body, dict(request.path_params), key, callback_url=request.headers.get(CALLBACK_HEADER))
            reply = effect(call)
        except BadRequest as exc:
            return Reply(400, {"detail": str(exc)}), False
        if use_key is not None and reply.storable:
            self._responses[use_key] = _Stored(fingerprint=fingerprint, reply=reply)
        return reply, False
