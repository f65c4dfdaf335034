"""JSON columns of what was said: requests, responses, a step's last exchange, an operator's resolve.

Each value is stored as the JSON text of its `as_context` shape (the one the API serves), or NULL
when absent; rows written before these columns existed read back as None.
"""

from __future__ import annotations

import json
from typing import Any

from coordinator.core.outcome import RequestSnapshot, ResponseSnapshot
from coordinator.core.state import AttemptExchange, Direction, OperatorResolution

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Built once: `json.dumps` with any non-default option builds a new encoder on every call."""


def _dump(value: Any) -> str:
    # Same encoding as codec.dump_json: compact, UTF-8, strict.
    return _ENCODER.encode(value)


def request_json(request: RequestSnapshot | None) -> str | None:
    """The column text of a request snapshot."""
    return None if request is None else _dump(request.as_context())


def request_from_json(text: str | None) -> RequestSnapshot | None:
    """The request snapshot of a column's text."""
    return None if text is None else RequestSnapshot.from_context(json.loads(text))


def response_json(response: ResponseSnapshot | None) -> str | None:
    """The column text of a response snapshot."""
    return None if response is None else _dump(response.as_context())


def response_from_json(text: str | None) -> ResponseSnapshot | None:
    """The response snapshot of a column's text."""
    return None if text is None else ResponseSnapshot.from_context(json.loads(text))


def exchange_json(exchange: AttemptExchange | None) -> str | None:
    """The column text of a step's last exchange."""
    if exchange is None:
        return None
    return _dump(
        {
            "direction": exchange.direction.value,
            "attempt": exchange.attempt,
            "request": None if exchange.request is None else exchange.request.as_context(),
            "response": None if exchange.response is None else exchange.response.as_context(),
        }
    )


def exchange_from_json(text: str | None) -> AttemptExchange | None:
    """The last exchange of a column's text."""
    if text is None:
        return None
    data = json.loads(text)
    request, response = data.get("request"), data.get("response")
    return AttemptExchange(
        direction=Direction(data["direction"]),
        attempt=int(data["attempt"]),
        request=None if request is None else RequestSnapshot.from_context(request),
        response=None if response is None else ResponseSnapshot.from_context(response),
    )


def resolution_json(resolution: OperatorResolution | None) -> str | None:
    """The column text of an operator's resolve."""
    if resolution is None:
        return None
    return _dump({"note": resolution.note, "actor": resolution.actor, "at_ms": resolution.at_ms})


def resolution_from_json(text: str | None) -> OperatorResolution | None:
    """The operator's resolve of a column's text."""
    if text is None:
        return None
    data = json.loads(text)
    return OperatorResolution(note=data["note"], actor=data.get("actor"), at_ms=int(data["at_ms"]))
