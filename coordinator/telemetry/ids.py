"""An id generator that can be told which ids to use for the next span.

Spans of a saga are emitted from its persisted history, possibly by another process than the one
that started it; their ids must be the ones children already point at. The SDK offers no way to
pass ids to `start_span`, so the generator reads them from a context variable set around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

_preset: ContextVar[tuple[int | None, int | None]] = ContextVar("saga_preset_ids", default=(None, None))


class PresetIdGenerator(IdGenerator):
    """Random ids, unless `preset_ids` is active."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        """The preset span id, or a random one."""
        return _preset.get()[1] or self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        """The preset trace id, or a random one."""
        return _preset.get()[0] or self._random.generate_trace_id()


@contextmanager
def preset_ids(trace_id: int | None, span_id: int) -> Iterator[None]:
    """Make spans started inside the block use these ids (the trace id only for a root span)."""
    token = _preset.set((trace_id, span_id))
    try:
        yield
    finally:
        _preset.reset(token)
