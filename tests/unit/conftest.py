"""Fixtures of the unit tests."""

from __future__ import annotations

import builtins
import io
import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn

import pytest

from tests.unit.engine_support import Nodes


def _refuse(*_: object, **__: object) -> NoReturn:
    raise AssertionError("this test must open no socket and no file")


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if its body connects a socket or opens a file."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(builtins, "open", _refuse)
    monkeypatch.setattr(io, "open", _refuse)
    monkeypatch.setattr(os, "open", _refuse)
    yield


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    """Coordinator processes on in-memory parts, stopped when the test ends."""
    made = Nodes()
    yield made
    await made.close()
