"""The engine's side of callbacks: a wrong token costs no database work; a right one is judged on
the stored state before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.core.state import CallbackOutcome, Direction
from coordinator.engine.callback_tokens import CallbackTarget
from coordinator.errors import CallbackNotFound
from coordinator.store import MemoryStore
from tests.unit.engine_support import Nodes


class CountingStore(MemoryStore):
    """The in-memory store, counting every load and commit it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.touched = 0

    async def load_execution(self, execution_id: str) -> Any:
        self.touched += 1
        return await super().load_execution(execution_id)

    async def commit(self, *args: Any, **kwargs: Any) -> Any:
        self.touched += 1
        return await super().commit(*args, **kwargs)


async def test_a_flood_of_wrong_tokens_touches_no_store(nodes: Nodes) -> None:
    store = CountingStore()
    node = nodes(store)
    genuine = node.engine.callback_tokens.mint(
        CallbackTarget(execution_id="nope", step=0, direction=Direction.ACTION, attempt=1)
    )
    forged = [genuine[:-1] + ("A" if genuine[-1] != "A" else "B"), "x" * 64, "", genuine + "AAAA"]
    for token in forged * 50:
        with pytest.raises(CallbackNotFound):
            await node.service.callback(token, CallbackOutcome.SUCCEEDED)
    assert store.touched == 0
    # A genuine token for an execution that does not exist costs one read, and reads the same.
    with pytest.raises(CallbackNotFound) as unknown:
        await node.service.callback(genuine, CallbackOutcome.SUCCEEDED)
    assert store.touched == 1 and unknown.value.detail == CallbackNotFound().detail
