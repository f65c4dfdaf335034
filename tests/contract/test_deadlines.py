"""Every PostgreSQL call of the store has a deadline that frees its thread: a partition never hangs it.

The store reaches the server through `tests/e2e/faultproxy.py`: a blackhole accepts and then drops
every byte, so connections hang half-open (no error, no reset), as in a real partition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from coordinator.errors import StoreUnavailable
from coordinator.store import SqlStore
from tests.e2e.faultproxy import FaultProxy

from .conftest import PG_PORT
from .factories import event, plain_state, record

pytestmark = pytest.mark.postgres
DEADLINE_S = 1.0
CONNECT_TIMEOUT_S = 5.0  # the store's psycopg connect_timeout (store/connect.py)
T = TypeVar("T")


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    p = FaultProxy(PG_PORT).start()
    yield p
    p.stop()


async def _answered_within(call: Callable[[], Awaitable[T]], seconds: float) -> T:
    """`call`'s first answer; StoreUnavailable is tried again until `seconds` have passed."""
    give_up = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except StoreUnavailable:
            if time.monotonic() > give_up:
                raise


def _through(proxy: FaultProxy, postgres_url: str) -> str:
    return postgres_url.replace(f":{PG_PORT}/", f":{proxy.port}/")


async def test_calls_on_a_blackholed_path_fail_by_their_deadline_and_recover_when_it_heals(
    postgres_url: str, proxy: FaultProxy
) -> None:
    store = SqlStore(_through(proxy, postgres_url), workers=2, call_timeout_s=DEADLINE_S)
    try:
        created, _ = await store.create_execution(record(plain_state("ex-deadline")), (event(),))
        state = created.state
        proxy.blackhole()
        # More calls than threads: without a cut, the first two would hold both threads forever and
        # the rest would queue behind them. The commits are group-committed (the status stays).
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(store.load_execution("ex-deadline") for _ in range(6)),
            *(store.commit(state, (event(),), expected_revision=state.revision, previous=state) for _ in range(4)),
            store.ping(),
            return_exceptions=True,
        )
        took = time.monotonic() - started
        assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
        assert took < DEADLINE_S + 2.0, f"calls took {took:.1f} s against a {DEADLINE_S} s deadline"

        proxy.heal()
        # The blackholed connections stay dead: the store must have dropped them, and its threads
        # must be free, for the next calls to succeed on fresh connections. A thread that was
        # reconnecting when the cut came may still sit in a connect through the blackhole until
        # the connect timeout (5 s): calls may fail by their deadline until then, never longer.
        loaded = await _answered_within(lambda: store.load_execution("ex-deadline"), CONNECT_TIMEOUT_S + 4)
        assert loaded.state.id == "ex-deadline"
        await asyncio.wait_for(asyncio.gather(*(store.ping() for _ in range(4))), 10)
    finally:
        await asyncio.wait_for(store.close(), 15)


async def test_a_cancelled_caller_does_not_leave_its_thread_hanging(postgres_url: str, proxy: FaultProxy) -> None:
    """A probe with a shorter patience of its own (like /readyz) gives up; the thread is freed anyway."""
    store = SqlStore(_through(proxy, postgres_url), workers=1, call_timeout_s=DEADLINE_S)
    try:
        await store.ping()
        proxy.blackhole()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.ping(), 0.2)
        proxy.heal()
        await asyncio.wait_for(store.ping(), DEADLINE_S + 6)  # the one thread came back
    finally:
        await asyncio.wait_for(store.close(), 15)


async def test_a_slow_path_is_not_a_failure(postgres_url: str, proxy: FaultProxy) -> None:
    """200 ms round trips: each statement waits, nothing fails within the default deadline."""
    store = SqlStore(_through(proxy, postgres_url))
    try:
        proxy.latency(0.1)  # each way
        started = time.monotonic()
        created, _ = await store.create_execution(record(plain_state("ex-slow")), (event(),))
        opened = time.monotonic()
        committed = await store.commit(created.state, (event(),), expected_revision=0)
        print(f"\n200 ms RTT: connect + create {opened - started:.2f} s, commit {time.monotonic() - opened:.2f} s")
        assert committed.revision == 1
    finally:
        await store.close()


async def test_reset_connections_are_replaced(postgres_url: str, proxy: FaultProxy) -> None:
    store = SqlStore(_through(proxy, postgres_url), call_timeout_s=5)
    try:
        created, _ = await store.create_execution(record(plain_state("ex-reset")), (event(),))
        assert proxy.reset() >= 1
        # The connection is found dead at the ping that opens the call: replaced, even for a write.
        committed = await store.commit(created.state, (event(),), expected_revision=0)
        assert committed.revision == 1
    finally:
        await store.close()
